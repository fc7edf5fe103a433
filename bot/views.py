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

Action = Literal["cancel", "pdf", "write", "edit", "reoutline"]
_LOOKS: dict[Action, tuple[str, discord.ButtonStyle, str | None]] = {
    "cancel": ("Cancel", discord.ButtonStyle.danger, None),
    "pdf": ("PDF", discord.ButtonStyle.secondary, "📄"),
    "write": ("Write it", discord.ButtonStyle.success, "✍️"),
    "edit": ("Edit outline", discord.ButtonStyle.primary, "📝"),
    "reoutline": ("New outline", discord.ButtonStyle.secondary, "🔄"),
}


class EpisodeButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"showrunner:(?P<action>cancel|pdf|write|edit|reoutline):"
    r"(?P<episode>ep-[a-z0-9]{5,8})(?::v(?P<revision>[0-9]{1,4}))?",
):
    def __init__(self, action: Action, episode_id: str, revision: int | None = None) -> None:
        label, style, emoji = _LOOKS[action]
        suffix = f":v{revision}" if revision is not None else ""
        super().__init__(
            discord.ui.Button(
                label=label,
                style=style,
                emoji=emoji,
                custom_id=f"showrunner:{action}:{episode_id}{suffix}",
            )
        )
        self.action: Action = action
        self.episode_id = episode_id
        self.revision = revision

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> EpisodeButton:
        revision = int(match["revision"]) if match["revision"] else None
        return cls(cast(Action, match["action"]), match["episode"], revision)

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = cast("ShowrunnerBot", interaction.client)
        match self.action:
            case "cancel":
                await cancel_from_button(bot, interaction, self.episode_id)
            case "pdf":
                await send_script(interaction, bot, self.episode_id, "pdf", self.revision)
            case "write":
                await bot.reviews.write_it(interaction, self.episode_id)
            case "edit":
                await bot.reviews.edit_outline(interaction, self.episode_id)
            case "reoutline":
                await bot.reviews.new_outline(interaction, self.episode_id)


def buttons(episode_id: str, *actions: Action, revision: int | None = None) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(EpisodeButton(action, episode_id, revision))
    return view


RewriteAction = Literal["stop", "vote", "pick"]


class RewriteButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"showrunner:(?P<action>stop|vote|pick):(?P<rewrite>rw-[a-z0-9]{5,8})"
    r"(?::(?P<take>[1-3]))?",
):
    """Cancel a rewrite being written; vote for a take, or pick one (the showrunner)."""

    def __init__(self, action: RewriteAction, rewrite_id: str, take: int | None = None) -> None:
        if action == "stop":
            label, style, row = "Cancel", discord.ButtonStyle.danger, None
        elif action == "vote":
            label, style, row = f"Vote take {take}", discord.ButtonStyle.primary, 0
        else:
            label, style, row = f"Pick take {take}", discord.ButtonStyle.success, 1
        suffix = f":{take}" if take is not None else ""
        super().__init__(
            discord.ui.Button(
                label=label,
                style=style,
                row=row,
                custom_id=f"showrunner:{action}:{rewrite_id}{suffix}",
            )
        )
        self.action: RewriteAction = action
        self.rewrite_id = rewrite_id
        self.take = take

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> RewriteButton:
        take = int(match["take"]) if match["take"] else None
        return cls(cast(RewriteAction, match["action"]), match["rewrite"], take)

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = cast("ShowrunnerBot", interaction.client)
        if self.action == "stop":
            await bot.ballots.cancel(interaction, self.rewrite_id)
        elif self.take is not None:
            await bot.ballots.vote(
                interaction, self.rewrite_id, self.take, pick=self.action == "pick"
            )


def rewrite_buttons(rewrite_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(RewriteButton("stop", rewrite_id))
    return view


def ballot_buttons(rewrite_id: str, takes: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for take in range(1, takes + 1):
        view.add_item(RewriteButton("vote", rewrite_id, take))
    for take in range(1, takes + 1):
        view.add_item(RewriteButton("pick", rewrite_id, take))
    return view


async def cancel_from_button(
    bot: ShowrunnerBot, interaction: discord.Interaction, episode_id: str
) -> None:
    """Only the episode's writer, or a member with Manage Messages, may cancel it."""
    job = bot.jobs.running.get(episode_id)
    if job is None and await bot.reviews.cancel(interaction, episode_id):
        return
    if job is None or job.ended or job.record.guild_id != interaction.guild_id:
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
