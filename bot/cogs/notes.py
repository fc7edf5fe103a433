"""/notes and /revisions: a writer's note rewrites one scene; every revision is kept."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.access import member, writers_only
from bot.premise import has_words, plain_premise
from bot.replies import episode_id_or_refuse, refuse_after_defer
from bot.status import plain
from scriptgen.models import MAX_SCENES
from storage import BudgetExceeded, EpisodeRecord, QuotaExceeded, SceneBusy

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

MAX_NOTE_CHARS = 1000


class Notes(commands.Cog):
    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot

    @app_commands.command(name="notes", description="Give notes on one scene; it is rewritten")
    @app_commands.describe(
        episode="The episode id, e.g. ep-7f3k2 (see /episodes)",
        scene="The scene's number",
        notes="What to change, as you would tell a writer",
        takes="Alternative takes to write and vote on (1-3, default 1)",
    )
    @app_commands.guild_only()
    async def notes(
        self,
        interaction: discord.Interaction,
        episode: str,
        scene: app_commands.Range[int, 1, MAX_SCENES],
        notes: app_commands.Range[str, 1, MAX_NOTE_CHARS],
        takes: app_commands.Range[int, 1, 3] = 1,
    ) -> None:
        received = time.monotonic()
        assert interaction.guild_id is not None
        public_id = await episode_id_or_refuse(interaction, episode)
        if public_id is None:
            return
        if not notes.strip() or not has_words(notes):
            await interaction.response.send_message(
                "The note is empty: say what the scene should do differently.", ephemeral=True
            )
            return
        response = await interaction.response.defer(thinking=True)
        record = await self.bot.episodes.get(interaction.guild_id, public_id)
        if record is None or record.script is None:
            state = "not found in this server" if record is None else record.status
            await refuse_after_defer(
                interaction,
                f"Episode `{public_id}` has no finished script to give notes on ({state}).",
            )
            return
        refusal = await self._refusal(interaction, record)
        if refusal is not None:
            await refuse_after_defer(interaction, refusal)
            return
        latest = await self.bot.rewrites.latest_revision(record)
        count = len(latest.script.scenes)
        if scene > count:
            await refuse_after_defer(
                interaction, f"`{public_id}` has {count} scenes; pick one from 1 to {count}."
            )
            return
        note = await plain_premise(notes.strip(), interaction.guild)
        spending = self.bot.spending
        try:
            reservation = await spending.reserve_rewrite(
                interaction.guild_id, interaction.user.id, latest.script, scene - 1, note, takes
            )
        except (BudgetExceeded, QuotaExceeded) as exc:
            await refuse_after_defer(interaction, f"Not now: {exc}")
            return
        # From the stored rewrite to its job: a resume at start-up must not take it as one a
        # previous process left (it reads between starts).
        with self.bot.jobs.starting():
            try:
                rewrite = await self.bot.rewrites.create(
                    episode=record,
                    scene=scene,
                    note=note,
                    takes=takes,
                    author_id=interaction.user.id,
                    author_name=interaction.user.display_name,
                )
            except BaseException as exc:
                await spending.budgets.release(reservation.id)
                if not isinstance(exc, SceneBusy):
                    raise
                await refuse_after_defer(interaction, str(exc))
                return
            await spending.budgets.attach(reservation.id, rewrite_id=rewrite.id)
            if response is not None and response.message_id is not None:
                await self.bot.rewrites.set_status_message(
                    rewrite.id, interaction.channel_id or rewrite.channel_id, response.message_id
                )
            heading = latest.script.scenes[scene - 1].heading
            self.bot.rewrite_jobs.start(rewrite, record, heading, interaction, received)

    @app_commands.command(name="revisions", description="Every revision of an episode")
    @app_commands.describe(episode="The episode id, e.g. ep-7f3k2 (see /episodes)")
    @app_commands.guild_only()
    async def revisions(self, interaction: discord.Interaction, episode: str) -> None:
        assert interaction.guild_id is not None
        public_id = await episode_id_or_refuse(interaction, episode)
        if public_id is None:
            return
        await interaction.response.defer(ephemeral=True)
        record = await self.bot.episodes.get(interaction.guild_id, public_id)
        if record is None or record.script is None:
            await interaction.followup.send(
                f"Episode `{public_id}` has no finished script in this server.", ephemeral=True
            )
            return
        lines = []
        for revision in await self.bot.rewrites.list_revisions(record):
            when = discord.utils.format_dt(revision.created_at, "f")
            line = f"**v{revision.number}** · {plain(revision.author_name, 32)} · {when}"
            if revision.scene is None:
                line += " · the first draft"
            else:
                line += f" · scene {revision.scene}: “{plain(revision.note or '', 160)}”"
            lines.append(line)
        embed = discord.Embed(
            title=f"Revisions of {plain(record.display_title, 200)}",
            colour=discord.Colour.blurple(),
        )
        embed.description = _within("\n".join(lines), 4000)
        embed.set_footer(text=f"/episode-get {public_id} revision:N posts one")
        await interaction.followup.send(embed=embed, ephemeral=True)

    async def _refusal(self, interaction: discord.Interaction, record: EpisodeRecord) -> str | None:
        """Notes come from the room's writers; outside a room, from the episode's writer."""
        if record.room_id is not None:
            room = await self.bot.rooms.get(record.room_id)
            if room is not None and not (await member(self.bot, interaction, room)).writes:
                return writers_only(room, "give notes")
            return None
        if interaction.user.id == record.author_id or interaction.permissions.manage_guild:
            return None
        return (
            f"Only {plain(record.author_name, 40)}, who wrote this episode, or someone with "
            "Manage Server can give notes on it."
        )


def _within(text: str, limit: int) -> str:
    """The newest lines that fit (the list is oldest first)."""
    if len(text) <= limit:
        return text
    lines = text.splitlines()
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        if size + len(line) + 1 > limit - 40:
            break
        kept.insert(0, line)
        size += len(line) + 1
    return f"… {len(lines) - len(kept)} earlier revisions\n" + "\n".join(kept)
