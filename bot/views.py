"""Buttons on episode messages.

One dynamic item serves every episode button: the action and the episode id live in the
``custom_id``, so a button keeps working after the bot restarts, with no view to re-register.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal, cast

import discord

from bot.replies import send_script

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

Action = Literal["cancel", "pdf"]
_LOOKS: dict[Action, tuple[str, discord.ButtonStyle, str | None]] = {
    "cancel": ("Cancel", discord.ButtonStyle.danger, None),
    "pdf": ("PDF", discord.ButtonStyle.secondary, "📄"),
}


class EpisodeButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"showrunner:(?P<action>cancel|pdf):(?P<episode>ep-[a-z0-9]{5,8})",
):
    def __init__(self, action: Action, episode_id: str) -> None:
        label, style, emoji = _LOOKS[action]
        super().__init__(
            discord.ui.Button(
                label=label,
                style=style,
                emoji=emoji,
                custom_id=f"showrunner:{action}:{episode_id}",
            )
        )
        self.action: Action = action
        self.episode_id = episode_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> EpisodeButton:
        return cls(cast(Action, match["action"]), match["episode"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = cast("ShowrunnerBot", interaction.client)
        if self.action == "cancel":
            await cancel_from_button(bot, interaction, self.episode_id)
        else:
            await send_script(interaction, bot.episodes, self.episode_id, "pdf")


def buttons(episode_id: str, *actions: Action) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(EpisodeButton(action, episode_id))
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
