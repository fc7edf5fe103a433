"""What the room's messages show: the bible card, and its whole text when a card is too small.

Writers' and model text is escaped for Markdown; the client's ``AllowedMentions.none()`` keeps
it from pinging.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.status import plain
from scriptgen.models import EpisodeSummary, SeriesBible
from storage import RoomRecord, Writer

FIELD_LIMIT = 1024
EMBED_LIMIT = 6000


def bible_embed(
    room: RoomRecord,
    bible: SeriesBible,
    writers: Sequence[Writer],
    summaries: Sequence[tuple[str, EpisodeSummary]],
) -> discord.Embed | None:
    """The bible as one card, or ``None`` when it does not fit whole (then it goes as a file:
    a card that silently drops characters would mislead the room)."""
    embed = discord.Embed(
        title=plain(room.name, 250),
        description=plain(room.logline, 4000) if room.logline else None,
        colour=discord.Colour.gold(),
    )
    fields: list[tuple[str, str]] = []
    if room.tone:
        fields.append(("Tone", plain(room.tone, FIELD_LIMIT)))
    if room.setting:
        fields.append(("Setting", plain(room.setting, FIELD_LIMIT)))
    if bible.characters:
        lines = []
        for c in bible.characters:
            line = f"**{plain(c.name, 60)}**"
            if c.description:
                line += f": {plain(c.description, 300)}"
            if c.voice:
                line += f"\n  *Voice:* {plain(c.voice, 300)}"
            lines.append(line)
        fields.append((f"Characters ({len(lines)})", "\n".join(lines)))
    if bible.running_gags:
        gags = "\n".join(f"• {plain(g, 300)}" for g in bible.running_gags)
        fields.append((f"Running gags ({len(bible.running_gags)})", gags))
    names = [f"{plain(room.showrunner_name, 40)} (showrunner)"]
    names += [plain(w.user_name, 40) for w in writers]
    fields.append(("Writers", ", ".join(names)))
    if summaries:
        fields.append(
            (
                "Previously",
                "\n".join(f"`{pid}` {plain(s.title, 80)}" for pid, s in summaries[:10]),
            )
        )
    for name, value in fields:
        if len(value) > FIELD_LIMIT:
            return None
        embed.add_field(name=name, value=value, inline=False)
    embed.set_footer(text="/room export gives the bible as a file to edit; /room import loads one")
    if len(embed) > EMBED_LIMIT:
        return None
    return embed


__all__ = ["bible_embed"]
