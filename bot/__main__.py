"""The composition root: settings, provider, database, generator, then the bot.

``uv run showrunner`` or ``python -m bot``. Exit code 2 means a setting or the database needs
fixing; the one line printed says which.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from pydantic import SecretStr, ValidationError

from bot.client import ShowrunnerBot
from bot.proxy import use_endpoints
from bot.settings import Settings, describe_error
from scriptgen.errors import ConfigurationError
from scriptgen.generator import ScriptGenerator
from scriptgen.limiter import FairLimiter
from scriptgen.monitor import PerformanceMonitor
from scriptgen.pricing import price_of
from scriptgen.providers import Provider, make_provider
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

log = logging.getLogger("showrunner")


def build_generator(settings: Settings, provider: Provider | None = None) -> ScriptGenerator:
    """The generator every episode of the process shares, with one process-wide call limiter."""
    if provider is None:
        key = settings.anthropic_api_key
        provider = make_provider(
            settings.provider,
            api_key=key.get_secret_value() if key else None,
            base_url=settings.anthropic_base_url,
            model=settings.model,
            seed=settings.demo_seed,
        )
    return ScriptGenerator(
        provider,
        settings.max_parallel_scenes,
        limiter=FairLimiter(settings.max_concurrent_calls),
        monitor=PerformanceMonitor(thresholds=settings.slow_step_seconds),
    )


def build_bot(
    settings: Settings,
    db: Database,
    generator: ScriptGenerator,
    temporal: TemporalClient | None = None,
    **options: Any,
) -> ShowrunnerBot:
    """The bot; episodes run on ``temporal``'s workers if given, else in this process.
    ``options`` go to discord.py's client (tests shorten its waits)."""
    use_endpoints(settings.discord_api_base, settings.discord_gateway)
    return ShowrunnerBot(
        settings=settings,
        generator=generator,
        db=db,
        episodes=EpisodeStore(db),
        rooms=RoomStore(db),
        rewrites=RewriteStore(db),
        budgets=BudgetStore(db),
        temporal=temporal,
        **options,
    )


async def connect_temporal(settings: Settings) -> TemporalClient:
    """The client of ``SHOWRUNNER_TEMPORAL_ADDRESS``, or a :class:`ConfigurationError` that
    says where it could not be reached."""
    from scriptgen.temporal import connect

    assert settings.temporal_address is not None
    try:
        return await connect(settings.temporal_address, settings.temporal_namespace)
    except RuntimeError as exc:  # the SDK's bridge says only "Failed client connect"
        raise ConfigurationError(
            f"cannot reach Temporal at {settings.temporal_address} ({exc}) - check "
            "SHOWRUNNER_TEMPORAL_ADDRESS and that the server is up"
        ) from None


async def run(settings: Settings) -> None:
    generator = build_generator(settings)
    model = generator.provider.model
    if settings.guild_monthly_budget_usd is not None and price_of(model) is None:
        log.warning(
            "SHOWRUNNER_GUILD_MONTHLY_BUDGET_USD is set, but %s has no known price: its calls "
            "count as $0 and budgets will not stop them (scriptgen/pricing.py lists prices)",
            model,
        )
    token = settings.discord_token.get_secret_value()
    # Made once, here: every episode of the gateway is then a workflow on the workers.
    temporal = await connect_temporal(settings) if settings.temporal_address else None
    async with (
        await Database.open(settings.database) as db,
        build_bot(settings, db, generator, temporal) as bot,
    ):
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(bot.close()))
        await bot.start(token)


async def run_worker(settings: Settings) -> None:
    """``showrunner worker``: episodes' workflows and model calls, for a Temporal server."""
    from scriptgen.temporal import StepActivities, episode_worker
    from storage import SqliteCheckpoints

    if settings.temporal_address is None:
        raise ConfigurationError(
            "SHOWRUNNER_TEMPORAL_ADDRESS is not set - a worker runs episodes for a Temporal "
            "server: set it to the server's host:port (7233 by default)"
        )
    # The same provider, limiter and monitor as a process of its own: the worker's calls
    # go through one limiter and are timed, slow ones warned of in its log.
    generator = build_generator(settings)
    client = await connect_temporal(settings)
    async with await Database.open(settings.database) as db:
        activities = StepActivities(
            generator.provider,
            lambda eid, prefix: SqliteCheckpoints(db, eid, prefix),
            limiter=generator.limiter,
            monitor=generator.monitor,
        )
        worker = episode_worker(
            client,
            activities,
            task_queue=settings.temporal_task_queue,
            max_concurrent_calls=settings.max_concurrent_calls,
            shutdown_grace=settings.shutdown_grace,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with worker:
            log.info("worker ready on task queue %s", settings.temporal_task_queue)
            await stop.wait()


def main() -> None:
    discord.utils.setup_logging(level=logging.INFO)
    worker = sys.argv[1:2] == ["worker"]
    name = "showrunner worker" if worker else "showrunner"
    try:
        # A worker never talks to Discord: it is not asked for the bot's token.
        settings = Settings(discord_token=SecretStr("")) if worker else Settings()
    except ValidationError as exc:
        print(f"{name}: {describe_error(exc)}", file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(run_worker(settings) if worker else run(settings))
    except (ConfigurationError, StorageError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        sys.exit(2)
    except (aiohttp.ClientError, OSError, discord.GatewayNotFound) as exc:
        api = settings.discord_api_base or "discord.com"
        print(
            f"showrunner: cannot reach Discord at {api} ({exc}) - check the network, "
            "or SHOWRUNNER_DISCORD_API_BASE / SHOWRUNNER_DISCORD_GATEWAY if you use a proxy",
            file=sys.stderr,
        )
        sys.exit(1)
    except discord.LoginFailure:
        print(
            "showrunner: Discord refused DISCORD_TOKEN - copy the bot token again from the "
            "Developer Portal (Bot > Reset Token)",
            file=sys.stderr,
        )
        sys.exit(2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
