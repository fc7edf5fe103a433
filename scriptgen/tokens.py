"""A rough token count, for budgets decided before any model sees the text.

About four characters a token for English prose: close enough to keep a series bible or a
"previously" block within a budget, and the same everywhere (the demo provider reports it as
usage), so a budget checked here is the budget the prompts are built with.
"""

from __future__ import annotations

__all__ = ["estimate_tokens"]


def estimate_tokens(text: str) -> int:
    """About how many tokens ``text`` is: ``len(text) // 4``, at least 1."""
    return max(1, len(text) // 4)
