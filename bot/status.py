"""What an episode's status message shows: a pure function of the episode's state.

Model text (titles, headings, loglines) and the writer's premise are escaped for Markdown so they
display as written; the client's ``AllowedMentions.none()`` is what keeps them from pinging.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import discord

from scriptgen.models import Script
from scriptgen.pricing import estimate_cost
from scriptgen.progress import EpisodeProgress, SceneState, Stage

BAR_WIDTH = 16
_SCENE_ICON = {
    SceneState.WAITING: "⏳",
    SceneState.DIALOGUE: "✍️",
    SceneState.DIRECTIONS: "🎬",
    SceneState.DONE: "✅",
    SceneState.PUNCH_UP: "🥁",
}


class Outcome(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PAUSED = "paused"
    VOTING = "voting"
    """Takes of a rewrite are written and wait for the room's vote."""


COLOURS = {
    Outcome.RUNNING: discord.Colour.blurple(),
    Outcome.DONE: discord.Colour.green(),
    Outcome.FAILED: discord.Colour.red(),
    Outcome.CANCELLED: discord.Colour.dark_grey(),
    Outcome.PAUSED: discord.Colour.orange(),
    Outcome.VOTING: discord.Colour.gold(),
}


@dataclass(frozen=True)
class StatusCard:
    """Everything the status message needs, at one moment."""

    episode_id: str
    author: str
    premise: str
    progress: EpisodeProgress
    elapsed: float
    outcome: Outcome = Outcome.RUNNING
    detail: str | None = None
    """Who cancelled, what failed, or a note such as 'Resumed after a restart...'."""
    script: Script | None = None
    previously: tuple[str, ...] = ()
    """The room's earlier episodes its prompts recall, by title."""
    estimate: float | None = None
    """The most it should cost (what its start reserved against the budget), in dollars."""
    spent: float | None = None
    """What its calls so far cost, in dollars."""


def plain(text: str, limit: int) -> str:
    """Model or user text made safe to show in Markdown, at most ``limit`` characters once
    escaped (escapes are never cut in half)."""
    text = " ".join(text.split())
    escaped = discord.utils.escape_markdown(text)
    if len(escaped) <= limit:
        return escaped
    pieces: list[str] = []
    size = 0
    for char in text:
        piece = discord.utils.escape_markdown(char)
        if size + len(piece) > limit - 1:
            break
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces).rstrip() + "…"


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def progress_bar(current: int, total: int) -> str:
    filled = round(BAR_WIDTH * current / total) if total else 0
    percent = round(100 * current / total) if total else 0
    return f"`{'▰' * filled}{'▱' * (BAR_WIDTH - filled)}` {percent}%"


def render_status(card: StatusCard) -> discord.Embed:
    p = card.progress
    title = p.title or "Writing a new episode"
    embed = discord.Embed(title=plain(title, 200), colour=COLOURS[card.outcome])
    lines = [f"> {plain(card.premise, 300)}", ""]
    if card.outcome is Outcome.DONE and card.script is not None:
        lines += _summary(card.script)
    else:
        lines.append(_headline(card))
        lines.append(f"{progress_bar(p.current, p.total)} · {duration(card.elapsed)}")
    if card.outcome is not Outcome.DONE and (card.estimate or card.spent):
        lines.append(_cost_line(card.estimate, card.spent))
    if card.previously:
        recalled = ", ".join(f"*{plain(title, 60)}*" for title in card.previously[:6])
        lines += ["", f"📚 Previously: {recalled}"]
    if card.detail:
        lines += ["", plain(card.detail, 500)]
    embed.description = "\n".join(lines)
    if p.scenes and card.outcome is not Outcome.DONE:
        embed.add_field(name="Scenes", value=_scene_lines(p), inline=False)
    embed.set_footer(text=f"Episode {card.episode_id} · started by {card.author[:80]}")
    return embed


def _cost_line(estimate: float | None, spent: float | None) -> str:
    parts = []
    if spent:
        parts.append(f"${spent:.3f} so far")
    if estimate:
        parts.append(f"up to ${estimate:.2f} estimated")
    return "💵 " + " · ".join(parts)


def _headline(card: StatusCard) -> str:
    p = card.progress
    match card.outcome:
        case Outcome.RUNNING:
            return f"**{p.stage.value.capitalize()}** · {plain(p.status, 200)}"
        case Outcome.FAILED:
            return "**Failed.** Every finished step is kept: `/episode-retry` picks up from here."
        case Outcome.CANCELLED:
            return "**Cancelled.**"
        case Outcome.PAUSED:
            return "**Paused for a restart**, resumes automatically."
        case Outcome.DONE:
            return "**Done.**"
        case Outcome.VOTING:
            return "**Takes ready.** The room votes below."


def _scene_lines(p: EpisodeProgress) -> str:
    lines = []
    for scene in p.scenes:
        heading = plain(scene.heading, 48) if scene.heading else "…"
        state = "" if scene.state in (SceneState.DONE, SceneState.WAITING) else f" · {scene.state}"
        lines.append(f"{_SCENE_ICON[scene.state]} {scene.number}. {heading}{state}")
    if p.stage in (Stage.COMEDY, Stage.REFINEMENT):
        lines.append(f"🥁 {p.stage.value}")
    kept: list[str] = []
    for line in lines:  # whole lines only: a field value holds 1,024 characters
        if sum(len(k) + 1 for k in kept) + len(line) > 1024:
            break
        kept.append(line)
    return "\n".join(kept)


def _summary(script: Script) -> list[str]:
    totals = script.totals
    cost = estimate_cost(script.model, totals)
    cost_text = "cost unknown" if cost is None else f"about ${cost:.3f}"
    lines = [
        f"*{plain(script.outline.logline, 400)}*",
        "",
        f"**{len(script.scenes)} scenes** · written in {duration(script.wall_seconds)} · "
        f"{totals.calls} calls",
        f"{totals.input_tokens + totals.cache_read_tokens + totals.cache_write_tokens:,} tokens in "
        f"({totals.cache_read_tokens:,} from cache), {totals.output_tokens:,} out · {cost_text}",
    ]
    if script.provider == "demo":
        lines.append("*Written by the offline demo provider, not by Claude.*")
    return lines
