"""Crash tests: the real bot, SIGKILLed at seeded moments and restarted, loses nothing.

Every run starts bot processes against the fake Discord and the fake Anthropic API, starts two
episodes, kills the bot (at a random moment, in the middle of a streamed model answer, or
between Discord creating the script's message and the bot recording it), restarts it, and
checks that every episode is delivered exactly once and that no step that had been
checkpointed was ever asked of the model again.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from storage._time import from_db
from tests.episode_responder import EpisodeResponder
from tests.fake_anthropic import FakeAnthropic, RecordedRequest
from tests.fake_discord import FakeChannel, FakeDiscord, FakeGuild, FakeUser

RUNS = 20
POST_FILE = "POST /channels/{channel_id}/messages"
PREMISES = ["A goat is elected mayor of a small town", "Two rival food trucks share one plug"]


class Zygote:
    """The bot-starting process (tests/crash_zygote.py)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.crash_zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[1],
        )

    def start_bot(self, env: dict[str, str]) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(env) + "\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    started = Zygote()
    yield started
    started.close()


@dataclass
class World:
    discord: FakeDiscord
    anthropic: FakeAnthropic
    guild: FakeGuild
    channel: FakeChannel
    writers: list[FakeUser]
    env: dict[str, str]
    db_path: Path


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    old = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    async with (
        FakeDiscord(bot_token="crash-token", heartbeat_interval_ms=500) as discord_,
        FakeAnthropic(responder=EpisodeResponder(seed=5), ttft=0.02, per_chunk=0.003) as api,
    ):
        guild = discord_.add_guild("Crash Room")
        channel = guild.add_text_channel("writing")
        writers = [guild.add_member("ada"), guild.add_member("bo")]
        db_path = tmp_path / "showrunner.db"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "DISCORD_TOKEN": "crash-token",
            "ANTHROPIC_API_KEY": "test-key",
            "ANTHROPIC_BASE_URL": api.base_url,
            "SHOWRUNNER_PROVIDER": "anthropic",
            "SHOWRUNNER_DB_PATH": str(db_path),
            "SHOWRUNNER_DEV_GUILD_ID": str(guild.id),
            "SHOWRUNNER_DISCORD_API_BASE": discord_.rest_base,
            "SHOWRUNNER_DISCORD_GATEWAY": str(discord_.gateway_url),
            "SHOWRUNNER_STATUS_INTERVAL": "0.5",
            "LOG_PATH": str(tmp_path / "bot.log"),
        }
        yield World(discord_, api, guild, channel, writers, env, db_path)
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


async def start(zygote: Zygote, world: World, since: float) -> int:
    pid = zygote.start_bot(world.env)
    await world.discord.wait_for_identify_or_resume(timeout=30, since=since, op="IDENTIFY")
    return pid


def script_posts(world: World) -> list[tuple[str, int]]:
    """(episode id, message id) of every script message in the channel."""
    posts = []
    for message in world.discord.messages(world.channel):
        found = re.search(r"`(ep-[a-z0-9]+)`", message.content)
        if found and any(a.filename.endswith(".fountain") for a in message.attachments):
            posts.append((found.group(1), message.id))
    return posts


async def all_shown(world: World) -> bool:
    """Every episode is done and its status message shows it."""
    if not world.db_path.exists():
        return False
    with sqlite3.connect(world.db_path) as db:
        rows = db.execute("SELECT status, status_shown FROM episodes").fetchall()
    return len(rows) == len(PREMISES) and all(r == ("done", "done") for r in rows)


def step_of(request: RecordedRequest) -> tuple[str, str]:
    """(premise, step key) a model request was for, read from its prompt."""
    system = json.dumps(request.body.get("system"))
    premise = next(p for p in PREMISES if p in system)
    text = request.last_user_text or ""
    scene = re.search(r"dialogue of scene (\d+)|^Scene (\d+) scored lowest", text)
    number = next((g for g in scene.groups() if g), "") if scene else ""
    match request.tool_name:
        case "write_outline":
            return premise, "outline"
        case "write_dialogue":
            return premise, f"scene:{number}:dialogue"
        case "add_stage_directions":
            return premise, f"scene:{number}:directions"
    if "scored lowest" in text:
        return premise, f"refine:1:scene:{number}"
    return premise, "comedy"


def checkpoint_times(db_path: Path) -> dict[tuple[str, str], float]:
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT e.request, s.key, s.created_at"
            " FROM steps s JOIN episodes e ON e.id = s.episode_id"
        ).fetchall()
    return {
        (json.loads(request)["premise"], key): from_db(created).timestamp()
        for request, key, created in rows
    }


async def kill_moment(world: World, rng: random.Random, mode: str, started: float) -> None:
    if mode == "mid-stream":
        target = rng.randint(2, 9)
        while len(world.anthropic.requests) < target or world.anthropic.requests[-1].done.is_set():
            await asyncio.sleep(0.005)
        await asyncio.sleep(rng.uniform(0.0, 0.03))
    elif mode == "post-before-record":
        world.discord.stall(lambda r: r.route == POST_FILE and bool(r.files), seconds=30, times=1)
        while not script_posts(world):  # created by the fake, not yet answered
            assert time.monotonic() - started < 30
            await asyncio.sleep(0.005)
    else:
        await asyncio.sleep(rng.uniform(0.2, 2.0))


@pytest.mark.parametrize("seed", range(RUNS))
async def test_sigkill_and_restart_delivers_once_and_never_pays_twice(
    zygote: Zygote, world: World, seed: int
) -> None:
    """Killed at a seeded moment and restarted: each episode posted once, no step re-asked."""
    rng = random.Random(seed)
    mode = ["random", "mid-stream", "post-before-record"][seed % 3]
    began = time.monotonic()
    pid = await start(zygote, world, 0.0)
    for writer, premise in zip(world.writers, PREMISES, strict=True):
        await world.discord.invoke_slash_command(
            world.guild, world.channel, writer, "episode", {"premise": premise, "scenes": 2}
        )
    await kill_moment(world, rng, mode, began)
    kill(pid)
    restarted = time.monotonic()
    pid = await start(zygote, world, restarted)
    try:
        while not await all_shown(world):
            assert time.monotonic() - restarted < 60, (world.env["LOG_PATH"], script_posts(world))
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # a duplicate post would arrive now
    finally:
        kill(pid)
    posts = script_posts(world)
    assert len(posts) == len(PREMISES), posts
    with sqlite3.connect(world.db_path) as db:
        rows = db.execute("SELECT public_id, status, delivered_message_id FROM episodes").fetchall()
        statuses = [m for (m,) in db.execute("SELECT status_message_id FROM episodes")]
    assert sorted(rows) == sorted((e, "done", m) for e, m in posts)
    for message_id in statuses:  # no status is left showing work in progress
        status = world.discord.message(message_id)
        assert status is not None and "2 scenes" in status.embeds[0]["description"], mode
    checkpointed = checkpoint_times(world.db_path)
    offset = time.time() - time.monotonic()
    for request in world.anthropic.requests:
        step = step_of(request)
        saved = checkpointed.get(step)
        assert saved is None or request.started + offset < saved, (step, mode)
