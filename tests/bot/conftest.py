"""The real Showrunner bot, built by its composition root, against the fake Discord."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.__main__ import build_bot, build_generator
from bot.client import ShowrunnerBot
from bot.settings import Settings
from scriptgen.providers.base import Provider
from storage import Database
from tests.fake_discord import (
    MANAGE_MESSAGES,
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    FakeUser,
    RecordedRequest,
)
from tests.scripted_provider import ScriptedProvider

QUICK = {"outline": 0.05, "dialogue": 0.1, "directions": 0.05, "comedy": 0.05, "refine": 0.05}


@dataclass
class Room:
    """A fake Discord with two guilds, writers, and the bot connected."""

    fake: FakeDiscord
    guild: FakeGuild
    channel: FakeChannel
    author: FakeUser
    other: FakeUser
    moderator: FakeUser
    bot: ShowrunnerBot
    db: Database
    provider: Provider


def make_settings(tmp_path: Path, fake: FakeDiscord, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "discord_token": fake.config.bot_token,
        "provider": "demo",
        "db_path": tmp_path / "showrunner.db",
        "discord_api_base": fake.rest_base,
        "discord_gateway": str(fake.gateway_url),
        "status_interval": 0.5,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def _discord_urls() -> Iterator[None]:
    old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    yield
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway


@pytest.fixture
async def fake(_discord_urls: None) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(bot_token="test-token", heartbeat_interval_ms=500) as server:
        yield server


RoomFactory = Callable[..., Awaitable[Room]]


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
        db = await Database.open(settings.db_path)
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


POST_MESSAGE = "POST /channels/{channel_id}/messages"
EDIT_ORIGINAL = "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original"
PREMISE = "A barista discovers the espresso machine is haunted"


def description(message: FakeMessage) -> str:
    return str(message.embeds[0].get("description", "")) if message.embeds else ""


async def start_episode(
    room: Room, user: FakeUser | None = None, *, premise: str = PREMISE, scenes: int = 2,
    guild: FakeGuild | None = None, channel: FakeChannel | None = None,
) -> FakeInteraction:
    return await room.fake.invoke_slash_command(
        guild or room.guild, channel or room.channel, user or room.author, "episode",
        {"premise": premise, "scenes": scenes},
    )


async def delivered(room: Room, timeout: float = 20, since: float = 0.0) -> RecordedRequest:  # noqa: ASYNC109
    """The request that posted a script file."""
    return await room.fake.wait_for(
        lambda r: r.route == POST_MESSAGE and bool(r.files) and r.status == 200, timeout, since=since
    )
