"""The buttons of a rewrite: Cancel while it is written, then Vote and Pick on its takes.

Votes are stored (one per writer: pressing again changes it), so a ballot survives a restart
and a double click never counts twice. A take wins by a majority of the room's writers
(showrunner included) or by the showrunner's pick; the winner becomes the next revision once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.access import member, showrunner_only, writers_only
from bot.rewrite_cards import ballot_summary
from bot.rewrites import majority
from bot.status import plain
from storage import EpisodeRecord, RewriteRecord

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


class Ballots:
    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot

    async def vote(
        self, interaction: discord.Interaction, rewrite_id: str, take: int, *, pick: bool
    ) -> None:
        bot = self.bot
        assert interaction.guild_id is not None
        record = await bot.rewrites.get(interaction.guild_id, rewrite_id)
        episode = await bot.episodes.get_by_id(record.episode_id) if record else None
        if record is None or episode is None or record.status != "voting":
            await _closed(interaction, record)
            return
        refusal = await self._refusal(interaction, episode, pick=pick)
        if refusal is not None:
            await interaction.response.send_message(refusal, ephemeral=True)
            return
        electorate = await bot.rewrite_jobs.electorate(episode)
        if pick:
            if not await bot.rewrites.pick(record.id, take, interaction.user.display_name):
                await _closed(interaction, record)
                return
            winner: int | None = take
            tally = await bot.rewrites.tally(record.id)
        else:
            counted = await bot.rewrites.vote(record.id, interaction.user.id, take)
            if counted is None:
                await _closed(interaction, record)
                return
            tally = counted
            winner = majority(tally, electorate)
        embeds = _retallied(interaction.message, tally, winner)
        content = ballot_summary(record, episode, tally, electorate, winner)
        if winner is None:
            await interaction.response.edit_message(content=content, embeds=embeds)
            return
        await interaction.response.edit_message(content=content, embeds=embeds, view=None)
        chosen_by = interaction.user.display_name if pick else None
        await bot.rewrite_jobs.choose(record, winner, chosen_by)

    async def cancel(self, interaction: discord.Interaction, rewrite_id: str) -> None:
        """Only the note's writer, the showrunner or Manage Messages may stop a rewrite."""
        job = self.bot.rewrite_jobs.running.get(rewrite_id)
        if job is None or job.record.guild_id != interaction.guild_id:
            await interaction.response.send_message(
                "This rewrite is not being written any more.", ephemeral=True
            )
            return
        allowed = (
            interaction.user.id == job.record.author_id or interaction.permissions.manage_messages
        )
        if not allowed and job.episode.room_id is not None:
            room = await self.bot.rooms.get(job.episode.room_id)
            allowed = room is not None and (await member(self.bot, interaction, room)).runs_the_show
        if not allowed:
            await interaction.response.send_message(
                f"Only {plain(job.record.author_name, 40)}, the showrunner, or someone with "
                "Manage Messages can cancel this rewrite.",
                ephemeral=True,
            )
            return
        await interaction.response.defer()
        await self.bot.rewrite_jobs.cancel(job, interaction.user.display_name)

    async def _refusal(
        self, interaction: discord.Interaction, episode: EpisodeRecord, *, pick: bool
    ) -> str | None:
        """Why this member may not vote (or pick), or ``None`` if they may."""
        if episode.room_id is None:
            if interaction.user.id == episode.author_id or interaction.permissions.manage_guild:
                return None
            return f"Only {plain(episode.author_name, 40)} decides on takes of their episode."
        room = await self.bot.rooms.get(episode.room_id)
        if room is None:
            return "This episode's room is gone."
        who = await member(self.bot, interaction, room)
        if pick and not who.runs_the_show:
            return showrunner_only(room, "pick a take (writers vote instead)")
        if not who.writes:
            return writers_only(room, "vote on takes")
        return None


def _retallied(
    message: discord.Message | None, tally: dict[int, int], winner: int | None
) -> list[discord.Embed]:
    """The ballot's embeds with the new counts (the takes' text is left as posted)."""
    embeds = list(message.embeds) if message else []
    for n, embed in enumerate(embeds, 1):
        votes = tally.get(n, 0)
        embed.set_footer(text=f"{votes} vote{'s' if votes != 1 else ''}")
        if winner == n:
            embed.title = f"🏆 Take {n} (chosen)"
            embed.colour = discord.Colour.green()
    return embeds


async def _closed(interaction: discord.Interaction, record: RewriteRecord | None) -> None:
    if record is not None and record.status == "done" and record.revision is not None:
        text = f"The vote is over: take {record.chosen_take or 1} became v{record.revision}."
    else:
        text = "This vote has closed."
    await interaction.response.send_message(text, ephemeral=True)


__all__ = ["Ballots"]
