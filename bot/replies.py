"""Answers to interactions that more than one command or button gives."""

from __future__ import annotations

import discord

from bot.delivery import TooLarge, attachments, headline
from bot.status import plain
from scriptgen.render import Format
from storage import EpisodeStore, normalize_public_id


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
    interaction: discord.Interaction, episodes: EpisodeStore, public_id: str, fmt: Format
) -> None:
    """Answer with a finished episode's script as a file (rendering may take a moment)."""
    if interaction.guild_id is None:
        return
    await interaction.response.defer(thinking=True)
    record = await episodes.get(interaction.guild_id, public_id)
    if record is None or record.script is None:
        state = "not found in this server" if record is None else record.status
        await refuse_after_defer(
            interaction, f"Episode `{public_id}` has no finished script ({state})."
        )
        return
    try:
        files = await attachments(record.script, fmt, interaction.filesize_limit)
    except TooLarge as exc:
        await interaction.followup.send(str(exc))
        return
    await interaction.followup.send(
        content=headline(record, record.script), files=[f.file() for f in files]
    )
