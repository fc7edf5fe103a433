"""Answers to interactions that more than one command or button gives."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.delivery import TooLarge, attachments, headline
from bot.status import plain
from scriptgen.render import Format
from storage import normalize_public_id

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


async def refuse_after_defer(interaction: discord.Interaction, message: str) -> None:
    """After a public defer, a refusal still reaches only the one who asked."""
    await interaction.delete_original_response()
    await interaction.followup.send(message, ephemeral=True)


async def episode_id_or_refuse(interaction: discord.Interaction, text: str) -> str | None:
    """The episode id a writer typed, or ``None`` after telling them it is not one."""
    public_id = normalize_public_id(text)
    if public_id is None:
        await interaction.response.send_message(
            f"`{plain(text, 40)}` is not an episode id; they look like `ep-7f3k2`.",
            ephemeral=True,
        )
    return public_id


async def send_script(
    interaction: discord.Interaction,
    bot: ShowrunnerBot,
    public_id: str,
    fmt: Format,
    revision: int | None = None,
) -> None:
    """Answer with a finished episode's script (the newest revision, or ``revision``) as a file;
    rendering may take a moment, so the answer is deferred first."""
    if interaction.guild_id is None:
        return
    await interaction.response.defer(thinking=True)
    record = await bot.episodes.get(interaction.guild_id, public_id)
    if record is None or record.script is None:
        state = "not found in this server" if record is None else record.status
        await refuse_after_defer(
            interaction, f"Episode `{public_id}` has no finished script ({state})."
        )
        return
    found = await (
        bot.rewrites.get_revision(record, revision)
        if revision is not None
        else bot.rewrites.latest_revision(record)
    )
    if found is None:
        versions = len(await bot.rewrites.list_revisions(record))
        await refuse_after_defer(
            interaction,
            f"Episode `{public_id}` has no revision {revision}; it has v1 to v{versions}. "
            f"`/revisions {public_id}` lists them.",
        )
        return
    suffix = f" v{found.number}" if found.number > 1 else ""
    try:
        files = await attachments(found.script, fmt, interaction.filesize_limit, suffix=suffix)
    except TooLarge as exc:
        await interaction.followup.send(str(exc))
        return
    await interaction.followup.send(
        content=headline(record, found.script) + (f" · v{found.number}" if suffix else ""),
        files=[f.file() for f in files],
    )
