"""Fixtures: a fake Discord, and the real bot started against it by the composition root."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.__main__ import build_bot, build_generator
from bot.client import ShowrunnerBot
from scriptgen.providers.base import Provider
from storage import Database
from tests.bot.harness import QUICK, Room, RoomFactory, make_settings
from tests.fake_discord import MANAGE_MESSAGES, FakeDiscord
from tests.scripted_provider import ScriptedProvider


@pytest.fixture
def _discord_urls() -> Iterator[None]:
    old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    yield
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway


@pytest.fixture
async def fake(_discord_urls: None) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(bot_token="test-token", heartbeat_interval_ms=500) as server:
        yield server


@pytest.fixture
async def make_room(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[RoomFactory]:
    """Starts the bot with the given provider and setting overrides; stops it afterwards."""
    started: list[tuple[ShowrunnerBot, asyncio.Task[None], Database]] = []
    guild = fake.add_guild("Writers' Room")
    channel = guild.add_text_channel("episodes")
    author = guild.add_member("ada")
    other = guild.add_member("bo")
    moderator = guild.add_member("mod", permissions=MANAGE_MESSAGES)

    async def start(provider: Provider | None = None, **overrides: Any) -> Room:
        settings = make_settings(tmp_path, fake, dev_guild_id=guild.id, **overrides)
        provider = provider or ScriptedProvider(QUICK)
        db = await Database.open(settings.database)
        generator = build_generator(settings, provider)
        # on_ready otherwise waits 2 s after the last GUILD_CREATE
        bot = build_bot(settings, db, generator, guild_ready_timeout=0.05)
        task = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()))
        started.append((bot, task, db))
        await fake.wait_until_ready()
        await asyncio.wait_for(bot.wait_until_ready(), 5)
        return Room(fake, guild, channel, author, other, moderator, bot, db, provider)

    yield start
    for bot, task, db in started:
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, 5)
        await db.close()
