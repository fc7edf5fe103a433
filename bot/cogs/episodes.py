"""/episode, /episodes and /episode-get: thin handlers over scriptgen, storage and the jobs."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands
from pydantic import ValidationError

from bot.access import member, room_here, writers_only
from bot.premise import has_words, plain_premise
from bot.replies import episode_id_or_refuse, refuse_after_defer, send_script
from bot.status import plain
from scriptgen.continuity import PREVIOUSLY_BUDGET_TOKENS, previously
from scriptgen.models import MAX_PREMISE_CHARS, MAX_SCENES, EpisodeRequest, SeriesBible
from scriptgen.pricing import estimate_cost
from storage import (
    BudgetExceeded,
    EpisodeLimitReached,
    EpisodeRecord,
    QuotaExceeded,
    RoomRecord,
)

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

TONES = [
    app_commands.Choice(name=name, value=value)
    for name, value in [
        ("Warm", "warm and good-hearted"),
        ("Dry", "dry, deadpan workplace comedy"),
        ("Absurd", "absurdist, escalating and surreal"),
        ("Satirical", "sharp satire"),
        ("Slapstick", "broad physical comedy"),
        ("Dark", "dark comedy"),
    ]
]
_STATUS_ICON = {"queued": "⏳", "running": "✍️", "done": "✅", "failed": "❌", "cancelled": "🚫"}


def request_problem(premise: str, scenes: int, title: str | None, tone: str | None) -> str | None:
    """What is wrong with the options, as a message for the writer, or ``None``."""
    if not premise.strip():
        return "The premise is empty: tell the room what the episode is about."
    if len(premise) > MAX_PREMISE_CHARS:
        return (
            f"The premise is {len(premise):,} characters; the limit is {MAX_PREMISE_CHARS:,}. "
            "Keep it to the heart of the story."
        )
    if not has_words(premise):
        return "The premise needs words, not only mentions or symbols: what happens?"
    if not 1 <= scenes <= MAX_SCENES:
        return f"An episode has 1 to {MAX_SCENES} scenes."
    return None


class Episodes(commands.Cog):
    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot

    @app_commands.command(name="episode", description="Write a sitcom episode from a premise")
    @app_commands.describe(
        premise="What the episode is about",
        scenes=f"How many scenes (1-{MAX_SCENES}, default 4)",
        title="A working title (optional)",
        tone="The comic tone (optional; a room's own tone otherwise)",
        review="Stop after the outline so the room can approve or edit it first",
    )
    @app_commands.choices(tone=TONES)
    @app_commands.guild_only()
    async def episode(
        self,
        interaction: discord.Interaction,
        premise: app_commands.Range[str, 1, MAX_PREMISE_CHARS],
        scenes: app_commands.Range[int, 1, MAX_SCENES] = 4,
        title: app_commands.Range[str, 1, 120] | None = None,
        tone: app_commands.Choice[str] | None = None,
        review: bool = False,
    ) -> None:
        received = time.monotonic()
        assert interaction.guild_id is not None
        jobs = self.bot.jobs
        # Everything before the defer is pure computation: Discord allows 3 s for a first answer.
        problem = request_problem(premise, scenes, title, tone.value if tone else None)
        problem = problem or jobs.refusal(interaction.guild_id, interaction.user.id)
        if problem is not None:
            await interaction.response.send_message(problem, ephemeral=True)
            return
        with jobs.admitting(interaction.guild_id, interaction.user.id):
            response = await interaction.response.defer(thinking=True)
            room = await room_here(self.bot, interaction)
            if room is not None and not (await member(self.bot, interaction, room)).writes:
                await refuse_after_defer(interaction, writers_only(room, "start episodes"))
                return
            bible, previously = await self._bible(room)
            try:
                request = EpisodeRequest(
                    premise=await plain_premise(premise, interaction.guild),
                    scene_count=scenes,
                    title=title,
                    tone=tone.value if tone else None,
                    bible=bible,
                )
            except ValidationError as exc:
                message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
                await refuse_after_defer(interaction, f"That premise does not work: {message}.")
                return
            spending = self.bot.spending
            try:
                reservation = await spending.reserve_episode(
                    interaction.guild_id, interaction.user.id, request
                )
            except (BudgetExceeded, QuotaExceeded) as exc:
                await refuse_after_defer(interaction, f"Not now: {exc}")
                return
            try:
                record = await self.bot.episodes.create(
                    guild_id=interaction.guild_id,
                    channel_id=interaction.channel_id or 0,
                    author_id=interaction.user.id,
                    author_name=interaction.user.display_name,
                    request=request,
                    provider=self.bot.generator.provider.name,
                    model=self.bot.generator.provider.model,
                    max_unfinished_per_author=1,
                    max_unfinished_per_guild=self.bot.settings.max_episodes_per_guild,
                    room_id=room.id if room else None,
                    review=review,
                )
            except BaseException as exc:
                await spending.budgets.release(reservation.id)
                if not isinstance(exc, EpisodeLimitReached):
                    raise
                await refuse_after_defer(interaction, f"Not now: {exc}.")
                return
            await spending.budgets.attach(reservation.id, episode_id=record.id)
            if response is not None and response.message_id is not None:
                await self.bot.episodes.set_status_message(
                    record.id, record.channel_id, response.message_id
                )
            if review:
                self.bot.reviews.begin(record, interaction)
            else:
                jobs.start(record, interaction, received, previously)

    async def _retry(self, interaction: discord.Interaction, record: EpisodeRecord) -> str | None:
        """Requeue a failed episode, held to the budget like a new one (not to the daily
        count: it is not a new episode); what stops it, or ``None``."""
        assert interaction.guild_id is not None
        spending = self.bot.spending
        try:
            reservation = await spending.reserve_episode(
                interaction.guild_id, interaction.user.id, record.request, new=False
            )
        except (BudgetExceeded, QuotaExceeded) as exc:
            return f"Not now: {exc}"
        if not await self.bot.episodes.requeue(record.id):
            await spending.budgets.release(reservation.id)
            return f"Episode `{record.public_id}` was retried by someone else just now."
        await spending.budgets.attach(reservation.id, episode_id=record.id)
        return None

    async def _bible(self, room: RoomRecord | None) -> tuple[SeriesBible | None, tuple[str, ...]]:
        """The room's bible with "previously" (the newest summaries within their token budget)
        for the episode's prompts, and the titles of the episodes it recalls."""
        if room is None:
            return None, ()
        rooms = self.bot.rooms
        recent = [summary for _, summary in await rooms.recent_summaries(room.id)]
        recalled = previously(recent, PREVIOUSLY_BUDGET_TOKENS)
        bible = (await rooms.bible(room)).model_copy(
            update={"previous_episodes": [s.line() for s in recalled]}
        )
        return bible, tuple(s.title for s in recalled)

    @app_commands.command(name="episodes", description="This server's recent episodes")
    @app_commands.guild_only()
    async def episodes(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True)
        records = await self.bot.episodes.list_recent(interaction.guild_id, limit=15)
        if not records:
            await interaction.followup.send(
                "No episodes here yet. Start one with `/episode`.", ephemeral=True
            )
            return
        embed = discord.Embed(title="Recent episodes", colour=discord.Colour.blurple())
        embed.description = "\n".join(_line(r) for r in records)[:4000]
        embed.set_footer(text="/episode-get <id> posts a finished script again")
        await interaction.followup.send(embed=embed, ephemeral=True)

    @app_commands.command(name="episode-get", description="Post a finished episode's script again")
    @app_commands.describe(
        episode="The episode id, e.g. ep-7f3k2 (see /episodes)",
        revision="Which revision (see /revisions; default: the newest)",
    )
    @app_commands.guild_only()
    async def episode_get(
        self,
        interaction: discord.Interaction,
        episode: str,
        revision: app_commands.Range[int, 1, 9999] | None = None,
    ) -> None:
        public_id = await episode_id_or_refuse(interaction, episode)
        if public_id is not None:
            await send_script(interaction, self.bot, public_id, "fountain", revision)

    @app_commands.command(
        name="episode-retry", description="Resume a failed episode from where it stopped"
    )
    @app_commands.describe(episode="The failed episode's id, e.g. ep-7f3k2 (see /episodes)")
    @app_commands.guild_only()
    async def episode_retry(self, interaction: discord.Interaction, episode: str) -> None:
        received = time.monotonic()
        assert interaction.guild_id is not None
        public_id = await episode_id_or_refuse(interaction, episode)
        if public_id is None:
            return
        problem = self.bot.jobs.refusal(interaction.guild_id, interaction.user.id)
        if problem is not None:
            await interaction.response.send_message(problem, ephemeral=True)
            return
        with self.bot.jobs.admitting(interaction.guild_id, interaction.user.id):
            await interaction.response.defer(thinking=True)
            record = await self.bot.episodes.get(interaction.guild_id, public_id)
            if record is None:
                problem = f"There is no episode `{public_id}` in this server."
            elif record.status != "failed":
                problem = f"Episode `{public_id}` is {record.status}; only a failed one is retried."
            elif not (
                record.author_id == interaction.user.id or interaction.permissions.manage_messages
            ):
                problem = (
                    f"Only {plain(record.author_name, 32)} or someone with Manage Messages "
                    "can retry this episode."
                )
            if problem is not None or record is None:
                await refuse_after_defer(interaction, problem or "")
                return
            problem = await self._retry(interaction, record)
            if problem is not None:
                await refuse_after_defer(interaction, problem)
                return
            record = await self.bot.episodes.get_by_id(record.id)
            assert record is not None
            self.bot.jobs.start(record, interaction, received)


def _line(record: EpisodeRecord) -> str:
    date = discord.utils.format_dt(record.created_at, "d")
    line = (
        f"{_STATUS_ICON.get(record.status, '')} `{record.public_id}` "
        f"**{plain(record.display_title, 60)}** · {plain(record.author_name, 32)} · {date} · "
        f"{record.status}"
    )
    if record.totals is not None and record.totals.calls:
        tokens = record.totals.input_tokens + record.totals.output_tokens
        tokens += record.totals.cache_read_tokens + record.totals.cache_write_tokens
        cost = estimate_cost(record.model, record.totals)
        line += f" · {tokens / 1000:.1f}k tokens" + (f" · ${cost:.3f}" if cost else "")
    return line
