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
        await _bot(interaction).jobs.cancel_from_button(interaction, self.episode_id)


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
        await _bot(interaction).jobs.send_pdf(interaction, self.episode_id)


def view_with(*items: discord.ui.Item[Any]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    return view
