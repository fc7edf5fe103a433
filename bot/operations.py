"""The bot's operations part, composed in one place: metrics, event-loop lag, the dashboard,
slow-step alerts and the HTTP server that shows them. Started and stopped with the bot."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import discord

from bot.alerts import SlowStepAlerts
from bot.dashboard import CostToday, Dashboard, EpisodeView, RewriteView
from bot.loop_lag import LoopLagSampler
from bot.metrics import BotMetrics, LiveCounts
from bot.ops_server import Check, OpsServer
from scriptgen.errors import ConfigurationError
from storage import StorageError, UsageLog
from storage.budgets import day_start

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

__all__ = ["Operations"]

log = logging.getLogger(__name__)

DB_TIMEOUT = 2.0
"""Seconds the database may take to answer a readiness check before it counts as down."""


class Operations:
    def __init__(self, bot: ShowrunnerBot, metrics: BotMetrics) -> None:
        settings = bot.settings
        monitor = bot.generator.monitor
        self.bot = bot
        self.metrics = metrics
        self.started = time.monotonic()
        self.loop_lag = LoopLagSampler(observe=metrics.loop_lag.observe)
        self.cost_today = CostToday()
        metrics.watch(
            bot.generator.limiter,
            LiveCounts(
                episodes_by_outcome=lambda: bot.jobs.ended,
                episodes_in_flight=lambda: len(bot.jobs.running),
                rewrites_in_flight=lambda: len(bot.rewrite_jobs.running),
                status_edits=bot.status_edits.counts,
            ),
        )
        self.dashboard = Dashboard(
            monitor,
            bot.generator.limiter,
            self._episodes,
            self._rewrites,
            self.cost_today,
            lambda: (self.loop_lag.last, self.loop_lag.worst),
            show_text=settings.dashboard_show_text,
        )
        self._unsubscribe = [
            monitor.subscribe(metrics.observe_step),
            monitor.subscribe(self.cost_today),
        ]
        self.alerts: SlowStepAlerts | None = None
        if settings.alert_channel_id is not None:
            channel = bot.get_partial_messageable(settings.alert_channel_id)

            async def post(text: str) -> None:
                await channel.send(text, allowed_mentions=discord.AllowedMentions.none())

            self.alerts = SlowStepAlerts(post, settings.alert_interval)
            self._unsubscribe.append(monitor.on_slow(self.alerts))
        self.server: OpsServer | None = None
        if settings.http_port is not None:
            token = settings.dashboard_token
            self.server = OpsServer(
                self,
                host=settings.http_host,
                port=settings.http_port,
                token=token.get_secret_value() if token else None,
                interval=settings.dashboard_interval,
            )

    async def start(self) -> None:
        """Before any episode runs (the bot's ``setup_hook``), so no call is counted twice."""
        self.loop_lag.start()
        now = self.bot.db.now()
        try:
            spent = await UsageLog(self.bot.db).totals_by_model(day_start(now))
        except StorageError:
            log.exception("reading today's cost from the usage ledger failed")
        else:
            self.cost_today.seed(now.date(), spent)
        if self.server is not None:
            try:
                await self.server.start()
            except OSError as exc:
                raise ConfigurationError(
                    f"SHOWRUNNER_HTTP_PORT: cannot listen on {self.server.url} ({exc.strerror}) "
                    "- choose a free port, or unset it to run without the operations server"
                ) from exc

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
        if self.alerts is not None:
            await self.alerts.stop()
        await self.loop_lag.stop()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    # -- what the server asks ------------------------------------------------------------

    def liveness(self) -> Mapping[str, Any]:
        return {
            "uptime_seconds": round(time.monotonic() - self.started, 1),
            "event_loop_lag_seconds": self.loop_lag.last,
        }

    def readiness(self) -> Mapping[str, Callable[[], Awaitable[Check]]]:
        return {
            "gateway": self._gateway,
            "database": self._database,
            "provider": self._provider,
            "accepting": self._accepting,
        }

    def exposition(self) -> bytes:
        return self.metrics.exposition()

    def snapshot(self) -> Mapping[str, Any]:
        return self.dashboard.snapshot()

    async def _gateway(self) -> Check:
        bot = self.bot
        if bot.is_closed():
            return Check(False, "the bot is closed")
        if not bot.is_ready():
            return Check(False, "not connected to the gateway yet")
        down = sorted(shard_id for shard_id, shard in bot.shards.items() if shard.is_closed())
        if down:
            listed = ", ".join(map(str, down))
            return Check(False, f"gateway shard {listed} dropped; reconnecting")
        shards = f"{bot.shard_count} shards, " if (bot.shard_count or 1) > 1 else ""
        return Check(True, f"connected, {shards}heartbeat {bot.latency * 1000:.0f} ms")

    async def _database(self) -> Check:
        try:
            await asyncio.wait_for(self.bot.db.fetchone("SELECT 1"), DB_TIMEOUT)
        except TimeoutError:
            return Check(False, f"no answer within {DB_TIMEOUT:.0f} s")
        except Exception as exc:  # any driver's failure is a "no", with its message
            return Check(False, str(exc) or type(exc).__name__)
        return Check(True, "answers")

    async def _provider(self) -> Check:
        provider = self.bot.generator.provider
        return Check(True, f"{provider.name}, model {provider.model}")

    async def _accepting(self) -> Check:
        if self.bot.jobs.accepting:
            return Check(True, "taking episodes")
        return Check(False, "stopping: no new episodes")

    # -- what the dashboard shows ----------------------------------------------------------

    def _episodes(self) -> Iterator[EpisodeView]:
        for job in self.bot.jobs.running.values():
            record = job.record
            yield EpisodeView(
                record.public_id, record.model, record.request.premise, job.progress, job.started
            )

    def _rewrites(self) -> Iterator[RewriteView]:
        for job in self.bot.rewrite_jobs.running.values():
            yield RewriteView(
                job.record.public_id,
                job.episode.public_id,
                job.episode.model,
                job.record.note,
                job.progress,
                job.started,
            )
