"""Buttons on episode messages.

They are dynamic items: the episode id lives in the ``custom_id``, so a button keeps working
after the bot restarts, with no view to re-register per message.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import discord

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

_ID = r"(?P<episode>ep-[a-z0-9]{5,8})"


def _bot(interaction: discord.Interaction) -> ShowrunnerBot:
    return cast("ShowrunnerBot", interaction.client)


class CancelButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=rf"showrunner:cancel:{_ID}",
):
    def __init__(self, episode_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel",
                style=discord.ButtonStyle.danger,
                custom_id=f"showrunner:cancel:{episode_id}",
            )
        )
        self.episode_id = episode_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CancelButton:
        return cls(match["episode"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await cancel_from_button(_bot(interaction), interaction, self.episode_id)


class PdfButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=rf"showrunner:pdf:{_ID}",
):
    def __init__(self, episode_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="PDF",
                emoji="📄",
                style=discord.ButtonStyle.secondary,
                custom_id=f"showrunner:pdf:{episode_id}",
            )
        )
        self.episode_id = episode_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> PdfButton:
        return cls(match["episode"])

    async def callback(self, interaction: discord.Interaction) -> None:
        from bot.delivery import send_pdf

        await send_pdf(interaction, _bot(interaction).episodes, self.episode_id)


def view_with(*items: discord.ui.Item[Any]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    return view


async def cancel_from_button(
    bot: ShowrunnerBot, interaction: discord.Interaction, episode_id: str
) -> None:
    """Only the episode's writer, or a member with Manage Messages, may cancel it."""
    job = bot.jobs.running.get(episode_id)
    if job is None or job.record.guild_id != interaction.guild_id:
        await interaction.response.send_message(
            "This episode is not being written any more.", ephemeral=True
        )
        return
    user = interaction.user
    if user.id != job.record.author_id and not interaction.permissions.manage_messages:
        await interaction.response.send_message(
            f"Only {discord.utils.escape_markdown(job.record.author_name)} or someone with "
            "Manage Messages can cancel this episode.",
            ephemeral=True,
        )
        return
    await interaction.response.defer()
    await bot.jobs.cancel(job, user.display_name)
