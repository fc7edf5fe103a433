"""Continuity between the episodes of a room: what each delivered one leaves for the next.

A summary is derived from the finished script with no model call: it costs nothing, cannot fail,
and says only what the script says. The "previously" block keeps the most recent summaries that
fit a token budget, because the block is in every call's cached prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

from scriptgen.comedy import current_jokes
from scriptgen.models import Dialogue, EpisodeSummary, Script
from scriptgen.tokens import estimate_tokens

__all__ = ["GAG_KINDS", "MAX_PREVIOUS", "PREVIOUSLY_BUDGET_TOKENS", "previously", "summarize"]

PREVIOUSLY_BUDGET_TOKENS = 1500
"""About a third of a bible's budget: enough for the last several episodes."""
MAX_PREVIOUS = 20
"""As many as a series bible holds (``SeriesBible.previous_episodes``)."""
GAG_KINDS = frozenset({"running-gag", "callback"})
GAG_MIN_SCORE = 7
GAG_CHARS = 200

_TITLE, _LOGLINE, _ENDING, _CHARACTERS, _GAGS = 120, 500, 600, 20, 10
"""The limits of :class:`EpisodeSummary`'s fields."""


def summarize(script: Script) -> EpisodeSummary:
    """The episode as the next one needs it: title, logline, how it ended, who was in it, and
    the running gags and callbacks that landed (scored 7 or more), to bring back."""
    characters = [name for scene in script.outline.scenes for name in scene.characters]
    gags: list[str] = []
    for joke in current_jokes(script.comedy, script.refinements):
        if joke.kind not in GAG_KINDS or joke.score < GAG_MIN_SCORE:
            continue
        text = _element_text(script, joke.scene, joke.line)
        if text and text not in gags:
            gags.append(text)
    return EpisodeSummary(
        title=_clip(script.title, _TITLE),
        logline=_clip(script.outline.logline, _LOGLINE),
        ending=_clip(script.outline.scenes[-1].beat, _ENDING),
        characters=list(dict.fromkeys(characters))[:_CHARACTERS],
        new_gags=gags[:_GAGS],
    )


def previously(summaries: Sequence[EpisodeSummary], budget_tokens: int) -> list[EpisodeSummary]:
    """The most recent of ``summaries`` (given newest first) that fit ``budget_tokens`` together,
    oldest first as a bible lists them. It stops at the first that does not fit: continuity
    with a gap in it would mislead more than a shorter memory."""
    kept: list[EpisodeSummary] = []
    spent = 0
    for summary in summaries[:MAX_PREVIOUS]:
        cost = estimate_tokens(f"- {summary.line()}\n")
        if spent + cost > budget_tokens:
            break
        kept.append(summary)
        spent += cost
    return kept[::-1]


def _element_text(script: Script, scene: int, line: int) -> str | None:
    """The text of element ``line`` of scene ``scene`` (both 1-based), if there is one."""
    if not 1 <= scene <= len(script.scenes):
        return None
    elements = script.scenes[scene - 1].elements
    if not 1 <= line <= len(elements):
        return None
    element = elements[line - 1]
    text = element.line if isinstance(element, Dialogue) else element.text
    return _clip(text, GAG_CHARS) or None


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
