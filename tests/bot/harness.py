"""The real Showrunner bot, built by its composition root, against the fake Discord: helpers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.client import ShowrunnerBot
from bot.settings import Settings
from scriptgen.providers.base import Provider, StepKind
from storage import Database
from tests.fake_discord import (
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    FakeUser,
    RecordedRequest,
)

QUICK: dict[StepKind, float] = {
    "outline": 0.05,
    "dialogue": 0.1,
    "directions": 0.05,
    "comedy": 0.05,
    "refine": 0.05,
}


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


RoomFactory = Callable[..., Awaitable["Room"]]


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
    return Settings(_env_file=None, **values)


POST_MESSAGE = "POST /channels/{channel_id}/messages"
EDIT_ORIGINAL = "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original"
PREMISE = "A barista discovers the espresso machine is haunted"


def description(message: FakeMessage) -> str:
    return str(message.embeds[0].get("description", "")) if message.embeds else ""


async def start_episode(
    room: Room,
    user: FakeUser | None = None,
    *,
    premise: str = PREMISE,
    scenes: int = 2,
    guild: FakeGuild | None = None,
    channel: FakeChannel | None = None,
) -> FakeInteraction:
    return await room.fake.invoke_slash_command(
        guild or room.guild,
        channel or room.channel,
        user or room.author,
        "episode",
        {"premise": premise, "scenes": scenes},
    )


async def delivered(room: Room, timeout: float = 20, since: float = 0.0) -> RecordedRequest:  # noqa: ASYNC109
    """The request that posted a script file."""
    return await room.fake.wait_for(
        lambda r: r.route == POST_MESSAGE and bool(r.files) and r.status == 200,
        timeout,
        since=since,
    )
