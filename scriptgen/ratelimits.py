"""What a provider learns about the account's limits, and how it tells the call limiter.

The Anthropic API says how much of each per-minute budget is left in its
``anthropic-ratelimit-*`` headers (requests, input tokens, output tokens, and when each
window resets), and says "too much" with a 429 (rate limit) or a 529 (overloaded). The
process-wide :class:`~scriptgen.limiter.FairLimiter` adapts to both: it paces calls to the
budgets before a 429, and shrinks its concurrency after one.

The provider's retry loop stays the only retry layer. It reports each attempt through a
:class:`RateFeedback`, which it finds with :func:`current_feedback`: a limiter slot makes the
call's own grant the current feedback for the code it runs (a context variable, so every
concurrent call reports for itself, and nothing needs wiring in the composition root). A
provider used outside any slot reports to no one.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from scriptgen.tokens import estimate_tokens

if TYPE_CHECKING:
    from scriptgen.providers.base import StepRequest

__all__ = [
    "CONGESTION_STATUSES",
    "RateFeedback",
    "RateLimitSnapshot",
    "RateLimitWindow",
    "Reservation",
    "current_feedback",
    "reporting_to",
]

CONGESTION_STATUSES = frozenset({429, 529})
"""Statuses that mean "fewer calls at once, please": a rate limit, or the API overloaded."""


@dataclass(frozen=True)
class RateLimitWindow:
    limit: int | None
    remaining: int | None
    reset: datetime | None


@dataclass(frozen=True)
class RateLimitSnapshot:
    """The latest ``anthropic-ratelimit-*`` headers: what a limiter needs to pace calls
    to the account's real limits instead of hard-coded tier numbers."""

    requests: RateLimitWindow
    tokens: RateLimitWindow
    input_tokens: RateLimitWindow
    output_tokens: RateLimitWindow
    observed_at: float
    """``time.monotonic()`` when the headers arrived."""

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitSnapshot | None:
        def window(kind: str) -> RateLimitWindow:
            def get(field: str) -> str | None:
                return headers.get(f"anthropic-ratelimit-{kind}-{field}")

            limit, remaining, reset = get("limit"), get("remaining"), get("reset")
            return RateLimitWindow(
                limit=int(limit) if limit and limit.isdigit() else None,
                remaining=int(remaining) if remaining and remaining.isdigit() else None,
                reset=_parse_time(reset),
            )

        if not any(k.lower().startswith("anthropic-ratelimit-") for k in headers):
            return None
        return cls(
            window("requests"),
            window("tokens"),
            window("input-tokens"),
            window("output-tokens"),
            time.monotonic(),
        )


def _parse_time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Reservation:
    """What one call may take from the per-minute budgets, reserved while it runs.

    The API counts a request's output against the output-token limit as its ``max_tokens``
    when it starts and corrects it to the real count when it ends; a call reserves the same,
    so calls admitted together cannot overrun a budget the last headers said was left.
    """

    requests: int = 1
    input_tokens: int = 0
    output_tokens: int = 0

    @classmethod
    def for_step(cls, step: StepRequest[Any]) -> Reservation:
        """A step's ``max_tokens`` of output and its whole prompt as input (an upper bound:
        cached prefix reads do not count against the input limit, and are not known yet)."""
        texts = (step.system, *step.shared_context, step.prompt)
        return cls(
            input_tokens=sum(estimate_tokens(t) for t in texts), output_tokens=step.max_tokens
        )


class RateFeedback(Protocol):
    """What a provider's retry loop tells the limiter about one call, attempt by attempt."""

    def observe(self, status: int | None, snapshot: RateLimitSnapshot | None) -> None:
        """An attempt's answer, as soon as it is known.

        ``status``: 200 when the API accepted the request (its stream began); otherwise the
        status the attempt failed with, as the retry layer classified it (an SSE error event
        counts as what it stands for: ``overloaded_error`` is 529). ``None``: an answer that
        says nothing about load (a connection failure, a spend limit). ``snapshot``: the
        answer's rate-limit headers, if it had any.
        """
        ...

    def settle(self, input_tokens: int, output_tokens: int) -> None:
        """A complete message: what it counted against the input and output token limits
        (uncached input and cache writes; output)."""
        ...

    def paused(self) -> AbstractAsyncContextManager[None]:
        """Wrapped around the wait before a retry: the call's slot serves others meanwhile,
        and the retry is admitted again (first in line) when the limiter allows it."""
        ...


_current: contextvars.ContextVar[RateFeedback | None] = contextvars.ContextVar(
    "scriptgen_rate_feedback", default=None
)


def current_feedback() -> RateFeedback | None:
    """Where the running call reports its attempts: the limiter slot it runs in, if any."""
    return _current.get()


@contextmanager
def reporting_to(feedback: RateFeedback | None) -> Iterator[None]:
    """Make ``feedback`` the current call's for the code run inside (this task only)."""
    token = _current.set(feedback)
    try:
        yield
    finally:
        _current.reset(token)
