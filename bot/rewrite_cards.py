"""What a rewrite's messages show: its live status, and the ballot when takes are written.

Pure functions of the rewrite's state, like :mod:`bot.status`; model and writer text is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import discord

from bot.status import COLOURS, Outcome, duration, plain, progress_bar
from scriptgen.models import Dialogue, Scene
from scriptgen.progress import RewriteProgress, SceneState
from storage import EpisodeRecord, RewriteRecord

TAKE_EXCERPT = 1500
"""Characters of a take shown on the ballot; the whole take is attached as a file."""

_STATE_ICON = {
    SceneState.WAITING: "⏳",
    SceneState.DIALOGUE: "✍️",
    SceneState.DIRECTIONS: "🎬",
    SceneState.DONE: "✅",
    SceneState.PUNCH_UP: "🥁",
}


@dataclass(frozen=True)
class RewriteCard:
    rewrite_id: str
    episode_id: str
    title: str
    heading: str
    note: str
    author: str
    progress: RewriteProgress
    elapsed: float
    outcome: Outcome = Outcome.RUNNING
    detail: str | None = None


def render_rewrite(card: RewriteCard) -> discord.Embed:
    p = card.progress
    embed = discord.Embed(
        title=plain(f"Notes on scene {p.scene} · {card.title}", 200),
        colour=COLOURS[card.outcome],
    )
    lines = [f"*{plain(card.heading, 120)}*", f"> {plain(card.note, 600)}", ""]
    match card.outcome:
        case Outcome.RUNNING:
            lines.append(f"**Rewriting** · {plain(p.status, 200)}")
        case Outcome.DONE:
            lines.append("**Done.**")
        case Outcome.VOTING:
            lines.append("**Takes ready.** The room votes on them below.")
        case Outcome.FAILED:
            lines.append("**Failed.** What was written is kept: give the note again to go on.")
        case Outcome.CANCELLED:
            lines.append("**Cancelled.**")
        case Outcome.PAUSED:
            lines.append("**Paused for a restart**, resumes automatically.")
    if card.outcome is Outcome.RUNNING:
        lines.append(f"{progress_bar(p.current, p.total)} · {duration(card.elapsed)}")
    if len(p.takes) > 1 and card.outcome is Outcome.RUNNING:
        lines.append("")
        lines += [
            f"{_STATE_ICON[state]} Take {n}" + (f" · {state}" if state != SceneState.DONE else "")
            for n, state in enumerate(p.takes, 1)
        ]
    if card.detail:
        lines += ["", plain(card.detail, 500)]
    embed.description = "\n".join(lines)
    embed.set_footer(
        text=f"Rewrite {card.rewrite_id} of {card.episode_id} · notes by {card.author[:80]}"
    )
    return embed


def scene_text(scene: Scene) -> str:
    """A scene as a reader sees it on a card: action in italics, cues in capitals."""
    lines = []
    for element in scene.elements:
        if isinstance(element, Dialogue):
            paren = f" ({plain(element.parenthetical, 80)})" if element.parenthetical else ""
            lines.append(
                f"**{plain(element.character.upper(), 40)}**{paren}: {plain(element.line, 400)}"
            )
        else:
            lines.append(f"*{plain(element.text, 400)}*")
    return "\n".join(lines)


def excerpt(text: str, limit: int = TAKE_EXCERPT) -> str:
    """Whole lines of ``text`` within ``limit`` characters, and a mark where it was cut."""
    if len(text) <= limit:
        return text
    kept: list[str] = []
    size = 0
    for line in text.splitlines():
        if size + len(line) + 1 > limit - 30:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept) + "\n… *(the whole take is attached)*"


def ballot_embeds(takes: Sequence[Scene], tally: Mapping[int, int]) -> list[discord.Embed]:
    """One embed per take, side by side, each with its vote count."""
    embeds = []
    for n, scene in enumerate(takes, 1):
        embed = discord.Embed(
            title=f"Take {n}", description=excerpt(scene_text(scene)), colour=discord.Colour.gold()
        )
        votes = tally.get(n, 0)
        embed.set_footer(text=f"{votes} vote{'s' if votes != 1 else ''}")
        embeds.append(embed)
    return embeds


def ballot_summary(
    record: RewriteRecord,
    episode: EpisodeRecord,
    tally: Mapping[int, int],
    electorate: int,
    winner: int | None = None,
) -> str:
    """The ballot message's text: what is voted on, and how it stands."""
    head = (
        f"🗳️ **{plain(episode.display_title, 100)}**, scene {record.scene}: "
        f"{record.takes} takes on {plain(record.author_name, 40)}'s note "
        f"“{plain(record.note, 300)}”"
    )
    if winner is not None:
        return f"{head}\n🏆 Take {winner} wins and becomes the next revision."
    needed = electorate // 2 + 1
    votes = sum(tally.values())
    return (
        f"{head}\nVote for a take (pressing again changes your vote): {needed} of "
        f"{electorate} writers' votes win, or the showrunner picks. {votes} voted so far."
    )


__all__ = [
    "RewriteCard",
    "ballot_embeds",
    "ballot_summary",
    "excerpt",
    "render_rewrite",
    "scene_text",
]
