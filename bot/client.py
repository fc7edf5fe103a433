"""The bot: a discord.py ``commands.AutoShardedBot`` holding the resources its cogs use, typed."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.ballots import Ballots
from bot.cogs.bible import Bible
from bot.cogs.budget import Budget
from bot.cogs.episodes import Episodes
from bot.cogs.notes import Notes
from bot.cogs.rooms import Rooms
from bot.jobs import EpisodeJobs
from bot.metrics import BotMetrics
from bot.operations import Operations
from bot.reporter import EditTally
from bot.reviews import Reviews
from bot.rewrites import RewriteJobs
from bot.settings import Settings
from bot.spending import Spending
from bot.views import EpisodeButton, RewriteButton
from scriptgen.generator import ScriptGenerator
from storage import (
    BudgetStore,
    Database,
    EpisodeStore,
    RewriteStore,
    RoomStore,
    StorageError,
)

if TYPE_CHECKING:
    from temporalio.client import Client as TemporalClient

log = logging.getLogger(__name__)


class ShowrunnerBot(commands.AutoShardedBot):
    """Every gateway shard in this one process (``SHOWRUNNER_SHARD_COUNT``, or as many as
    Discord recommends); episodes, limiter and database are shared by all of them."""

    def __init__(
        self,
        *,
        settings: Settings,
        generator: ScriptGenerator,
        db: Database,
        episodes: EpisodeStore,
        rooms: RoomStore,
        rewrites: RewriteStore,
        budgets: BudgetStore,
        temporal: TemporalClient | None = None,
        **options: Any,
    ) -> None:
        # A writers' room never joins voice: discord.py's warnings about voice libraries
        # would only alarm operators reading the log.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        metrics = BotMetrics()
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            # Model output and premises can contain @everyone and mentions: nothing may ping.
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            http_trace=metrics.discord_trace(),
            shard_count=settings.shard_count,
            **options,
        )
        self.settings = settings
        self.generator = generator
        self.db = db
        self.episodes = episodes
        self.rooms = rooms
        self.rewrites = rewrites
        self.temporal = temporal
        """Where episodes are written when they run on Temporal workers; none: here."""
        self.spending = Spending(settings, db, budgets, generator)
        self.status_edits = EditTally()
        self.jobs = EpisodeJobs(self)
        self.rewrite_jobs = RewriteJobs(self)
        self.reviews = Reviews(self)
        self.ballots = Ballots(self)
        self.ops = Operations(self, metrics)
        self._resuming: asyncio.Task[None] | None = None
        self._identify_concurrency = 1
        self.tree.error(self.on_app_command_error)

    async def launch_shards(self) -> None:
        # One GET /gateway/bot for the recommended shard count (unless set) and how many shards
        # may IDENTIFY at once. With the count set, discord.py connects to DEFAULT_GATEWAY:
        # Discord's, or the gateway proxy (it would take Discord's URL from that answer).
        count, _, limits = await self.http.get_bot_gateway()
        if self.shard_count is None:
            self.shard_count = count
        self._identify_concurrency = max(1, int(limits.get("max_concurrency", 1)))
        await super().launch_shards()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # Discord lets max_concurrency shards IDENTIFY in each 5-second window (shards
        # bucketed by id % max_concurrency); discord.py waits 5 s before every one but the first.
        concurrency = self._identify_concurrency
        if shard_id is not None and not initial and shard_id % concurrency != 0:
            return
        await super().before_identify_hook(shard_id, initial=initial)

    async def setup_hook(self) -> None:
        await self.ops.start()  # /healthz and /readyz answer while the gateway connects
        for cog in (Episodes(self), Rooms(self), Bible(self), Notes(self), Budget(self)):
            await self.add_cog(cog)
        self.add_dynamic_items(EpisodeButton, RewriteButton)
        if self.settings.dev_guild_id is not None:
            guild = discord.Object(self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), guild.id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d global commands (they may take a while to appear)", len(synced))
        self._resuming = asyncio.create_task(self._resume(), name="resume-episodes")
        # Everything built so far (modules, the SDK's models, caches) lives as long as the
        # process: moved out of the collector's reach, full collections stop scanning it.
        gc.collect()
        gc.freeze()

    async def _resume(self) -> None:
        try:
            await self.spending.budgets.settle_ended(self.db.now())
        except StorageError:
            log.exception("tidying budget reservations after the restart failed")
        for part in (self.jobs, self.rewrite_jobs, self.reviews):
            try:
                await part.resume_all()
            except Exception:
                log.exception("resuming after the restart failed (%s)", type(part).__name__)

    async def close(self) -> None:
        """A graceful stop: running episodes are checkpointed and marked paused first."""
        if self._resuming is not None:
            self._resuming.cancel()
        await self.reviews.close()
        await self.jobs.pause_all(self.settings.shutdown_grace)
        await self.rewrite_jobs.pause_all()
        await super().close()
        await self.ops.stop()

    async def on_ready(self) -> None:
        log.info("ready as %s in %d guilds", self.user, len(self.guilds))

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """The one place unexpected command failures become a message instead of silence."""
        if isinstance(error, app_commands.NoPrivateMessage):
            message = "Showrunner works in server channels, not in direct messages."
        else:
            log.exception("command %s failed", interaction.command, exc_info=error)
            message = "Something went wrong on our side; it has been logged. Please try again."
        try:
            if interaction.response.is_done():
                await interaction.followup.send(message, ephemeral=True)
            else:
                await interaction.response.send_message(message, ephemeral=True)
        except discord.HTTPException:
            log.warning("could not tell the user about the error")
