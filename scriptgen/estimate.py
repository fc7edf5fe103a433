"""The most an episode or a rewrite can cost, known before its first call.

A budget is checked when work starts, so what the work will cost must be known then, and be an
upper bound: a reservation that covers the real cost is what lets parallel starts share a budget
without overshooting it. Every call is therefore counted at its worst:

- **Output:** every step's ``max_tokens``, the most the API lets it write.
- **Input:** each prompt sized by the builders in :mod:`scriptgen.prompts` (never a copy of their
  text), plus the tools' schemas every call declares and the API's own tool-use preamble. What a
  prompt quotes from an earlier answer (the outline, a scene's dialogue, the draft) is not known
  yet: the builders are given placeholders, and the quoting step's bound adds the ``max_tokens``
  of the answers it quotes (a quote rendered as text is shorter than the JSON the model wrote).
- **No cache discount:** the cacheable prefix (tools, system prompt, bible, premise, outline) is
  priced as a cache write (1.25x input), as if every call wrote its own; the step's prompt as
  plain input.
- **Text to tokens:** three ASCII characters a token, two UTF-8 bytes a token for the rest (a
  premise in Japanese is about a token a character); tighter ratios than
  :func:`scriptgen.tokens.estimate_tokens`, which estimates, where this bounds.

Not covered: a second call for an answer that failed validation, an attempt that failed
after being billed, or a scene begun again because the outline it was begun on was answered
again otherwise. (A scene begun while the outline streams has the outline so far in its prompt
rather than in its prefix: within the bound, which counts the whole outline in both.) Real
answers stay far below ``max_tokens``, which absorbs those, and when the work ends its
reservation is settled: from then on the usage ledger is what counts.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from scriptgen import prompts
from scriptgen.models import (
    Dialogue,
    DialogueLine,
    EpisodeRequest,
    Outline,
    Scene,
    SceneDialogue,
    SceneOutline,
    Script,
)
from scriptgen.pricing import CACHE_WRITE_FACTOR, price_of
from scriptgen.providers.base import OutputT, StepRequest, ToolSpec

__all__ = [
    "ASCII_CHARS_PER_TOKEN",
    "CALL_OVERHEAD_TOKENS",
    "OTHER_BYTES_PER_TOKEN",
    "CallBound",
    "bound_cost",
    "episode_calls",
    "estimate_episode",
    "estimate_rewrite",
    "rewrite_calls",
    "token_bound",
]

ASCII_CHARS_PER_TOKEN: Final = 3.0
"""English prose runs about four characters a token and JSON schemas about three: three bounds
both in practice."""
OTHER_BYTES_PER_TOKEN: Final = 2.0
"""A CJK character (three UTF-8 bytes) is one or two tokens, an emoji (four) two or three."""
CALL_OVERHEAD_TOKENS: Final = 500
"""What the API adds to every call: its tool-use system prompt (about 300 to 350 tokens when a
tool is forced) and the framing of the blocks and messages."""

_X: Final = "x"
"""The placeholder text of a quoted answer: the builders' own words around it are counted."""


@dataclass(frozen=True)
class CallBound:
    """The most one call can use, in tokens."""

    key: str
    """The step's key, as in the ledger (``scene:2:dialogue``)."""
    prefix_tokens: int
    """Tools, system prompt and shared context: what the call may write to the prompt cache."""
    prompt_tokens: int
    """The step's own prompt: plain input, never cached."""
    output_tokens: int
    """The step's ``max_tokens``."""

    @property
    def input_tokens(self) -> int:
        return self.prefix_tokens + self.prompt_tokens


def token_bound(text: str) -> int:
    """At most how many tokens ``text`` is (see :data:`ASCII_CHARS_PER_TOKEN`)."""
    ascii_chars = len(text.encode("ascii", "ignore"))
    other_bytes = len(text.encode("utf-8")) - ascii_chars
    return math.ceil(ascii_chars / ASCII_CHARS_PER_TOKEN + other_bytes / OTHER_BYTES_PER_TOKEN)


def episode_calls(
    request: EpisodeRequest, max_refinements: int = 1, max_refine_scenes: int = 3
) -> list[CallBound]:
    """Every call an episode can make, in order, each at its most.

    ``max_refinements`` and ``max_refine_scenes`` are the generator's: every round is counted
    as refining as many scenes as it may. An outline given in the request is used as it is
    (no outline call, and its exact text in every prompt).
    """
    n = request.scene_count
    calls: list[CallBound] = []
    if request.outline is None:
        first = prompts.outline_step(request)
        calls.append(_bound(first))
        outline = _placeholder_outline(n)
        outline_out = first.max_tokens
    else:
        outline = request.outline
        outline_out = 0  # known exactly: nothing quoted is unknown
    dialogue = _placeholder_dialogue()
    scene_out: list[int] = []
    for index in range(n):
        # The outline is in the shared context; the scene's heading, from it, in the prompt.
        lines = prompts.dialogue_step(request, outline, index)
        calls.append(_bound(lines, prefix_extra=outline_out, prompt_extra=outline_out))
        action = prompts.directions_step(request, outline, index, dialogue)
        calls.append(
            _bound(action, prefix_extra=outline_out, prompt_extra=outline_out + lines.max_tokens)
        )
        scene_out.append(lines.max_tokens + action.max_tokens)
    scenes = [_placeholder_scene(s.heading) for s in outline.scenes]
    comedy = prompts.comedy_step(request, outline, scenes)
    # The draft is the last block of the comedy pass's prefix, and of every refinement's.
    draft_out = outline_out + sum(scene_out)
    calls.append(_bound(comedy, prefix_extra=draft_out))
    refined = min(max(0, max_refine_scenes), n)
    edits = comedy.max_tokens  # what the punch-up's edits can change in a scene
    for round_number in range(1, max(0, max_refinements) + 1):
        round_out = 0
        for index in range(n - refined, n):
            step = prompts.refine_step(request, outline, scenes, scenes, index, round_number)
            # Its prompt quotes the scene's elements changed since the draft: at most all.
            changed = scene_out[index] + edits
            calls.append(_bound(step, prefix_extra=draft_out, prompt_extra=changed))
            round_out = max(round_out, step.max_tokens)
        edits += round_out  # a later round quotes this round's edits too
    return calls


def rewrite_calls(script: Script, index: int, note: str, takes: int) -> list[CallBound]:
    """Every call a rewrite of scene ``index`` (0-based) in ``takes`` takes can make.

    Raises :class:`ValueError` for a scene the script does not have, or fewer than one take.
    """
    if not 0 <= index < len(script.scenes):
        raise ValueError(f"the script has scenes 1 to {len(script.scenes)}, not {index + 1}")
    if takes < 1:
        raise ValueError(f"a rewrite has at least one take, not {takes}")
    request, outline = script.request, script.outline
    dialogue = _placeholder_dialogue()
    calls: list[CallBound] = []
    for take in range(1, takes + 1):
        lines = prompts.rewrite_dialogue_step(
            request, outline, script.scenes, index, note, take, takes
        )
        calls.append(_bound(lines))
        action = prompts.rewrite_directions_step(request, outline, index, dialogue, note, take)
        calls.append(_bound(action, prompt_extra=lines.max_tokens))
    return calls


def bound_cost(calls: Iterable[CallBound], model: str) -> float | None:
    """What ``calls`` cost at most on ``model``, in dollars; ``None`` if it has no price."""
    price = price_of(model)
    if price is None:
        return None
    total = 0.0
    for call in calls:
        total += (
            call.prefix_tokens * price.input * CACHE_WRITE_FACTOR
            + call.prompt_tokens * price.input
            + call.output_tokens * price.output
        )
    return total / 1_000_000


def estimate_episode(
    request: EpisodeRequest, model: str, max_refinements: int = 1, max_refine_scenes: int = 3
) -> float | None:
    """The most writing ``request`` can cost on ``model``, in dollars (see the module's notes);
    ``None`` for a model with no price."""
    if price_of(model) is None:
        return None
    return bound_cost(episode_calls(request, max_refinements, max_refine_scenes), model)


def estimate_rewrite(script: Script, index: int, note: str, takes: int, model: str) -> float | None:
    """The most rewriting scene ``index`` (0-based) of ``script`` to ``note`` in ``takes`` takes
    can cost on ``model``, in dollars; ``None`` for a model with no price."""
    if price_of(model) is None:
        return None
    return bound_cost(rewrite_calls(script, index, note, takes), model)


# -- sizing one call ----------------------------------------------------------------------------


def _bound(
    step: StepRequest[OutputT], *, prefix_extra: int = 0, prompt_extra: int = 0
) -> CallBound:
    """A call's bound: the builder's text as sized here, plus the quoted answers' bounds."""
    prefix = (
        _tools_tokens(tuple(step.tools) or (ToolSpec(step.tool_name, "", step.output),))
        + sum(token_bound(text) for text in (step.system, *step.shared_context))
        + CALL_OVERHEAD_TOKENS
    )
    return CallBound(
        key=step.key,
        prefix_tokens=prefix + prefix_extra,
        prompt_tokens=token_bound(step.prompt) + prompt_extra,
        output_tokens=step.max_tokens,
    )


@functools.cache
def _tools_tokens(tools: tuple[ToolSpec, ...]) -> int:
    """The tools as the request declares them: name, description and JSON schema each."""
    return sum(
        token_bound(
            json.dumps(
                {
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.output.model_json_schema(),
                }
            )
        )
        for tool in tools
    )


def _placeholder_outline(scene_count: int) -> Outline:
    scene = SceneOutline(heading=_X, location=_X, time=_X, characters=[_X], beat=_X, comic_goal=_X)
    return Outline(title=_X, logline=_X, scenes=[scene] * scene_count)


def _placeholder_dialogue() -> SceneDialogue:
    return SceneDialogue(lines=[DialogueLine(character=_X, line=_X)])


def _placeholder_scene(heading: str) -> Scene:
    return Scene(heading=heading, elements=[Dialogue(character=_X, line=_X)])
