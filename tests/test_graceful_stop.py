"""SIGTERM and SIGINT: the real bot stops within 10 s, says episodes are paused, and resumes."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.episode_responder import EpisodeResponder
from tests.fake_anthropic import FakeAnthropic
from tests.fake_discord import FakeDiscord

EPHEMERAL = 1 << 6


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeDiscord, FakeAnthropic]]:
    old = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    async with (
        FakeDiscord(bot_token="stop-token", heartbeat_interval_ms=500) as discord_,
        FakeAnthropic(responder=EpisodeResponder(seed=2), ttft=0.3, per_chunk=0.01) as api,
    ):
        yield discord_, api
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old


async def start_bot(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            env=env,
            stdout=out,
            stderr=out,
            cwd=log.parent,
        )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_stop_pauses_episodes_and_a_restart_finishes_them(
    fakes: tuple[FakeDiscord, FakeAnthropic], tmp_path: Path, signum: int
) -> None:
    """Exit 0 within 10 s; statuses say paused; new episodes are refused meanwhile; resumed."""
    discord_, api = fakes
    guild = discord_.add_guild("Stop Room")
    channel = guild.add_text_channel("writing")
    ada, bo = guild.add_member("ada"), guild.add_member("bo")
    db_path = tmp_path / "showrunner.db"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DISCORD_TOKEN": "stop-token",
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": api.base_url,
        "SHOWRUNNER_DB_PATH": str(db_path),
        "SHOWRUNNER_DEV_GUILD_ID": str(guild.id),
        "SHOWRUNNER_DISCORD_API_BASE": discord_.rest_base,
        "SHOWRUNNER_DISCORD_GATEWAY": str(discord_.gateway_url),
        "SHOWRUNNER_STATUS_INTERVAL": "0.5",
        "SHOWRUNNER_SHUTDOWN_GRACE": "3",
    }
    log = tmp_path / "bot.log"
    bot = await start_bot(env, log)
    await discord_.wait_for_identify_or_resume(timeout=60, op="IDENTIFY")
    first = await discord_.invoke_slash_command(
        guild, channel, ada, "episode", {"premise": "A goat is elected mayor", "scenes": 3}
    )
    await first.wait_for_original_edit(lambda m: bool(m.embeds), 10)
    while len(api.requests) < 3:  # the outline is written, the scenes are in flight
        await asyncio.sleep(0.01)
    stopped = time.monotonic()
    bot.send_signal(signum)
    await asyncio.sleep(0.1)
    refused = await discord_.invoke_slash_command(
        guild, channel, bo, "episode", {"premise": "Two food trucks share one plug"}
    )
    callback = await refused.wait_for_callback(timeout=5)
    assert callback.data["flags"] & EPHEMERAL
    assert "restarting" in callback.data["content"]
    assert await asyncio.wait_for(bot.wait(), 10) == 0, log.read_text()
    assert time.monotonic() - stopped < 10
    paused = first.original
    assert paused is not None
    assert "Paused for a restart" in paused.embeds[0]["description"]
    assert paused.custom_ids() == []
    with sqlite3.connect(db_path) as db:
        [(status, kept)] = db.execute(
            "SELECT status, (SELECT count(*) FROM steps) FROM episodes"
        ).fetchall()
    assert status == "running"
    assert kept >= 1
    asked_before = len(api.requests)
    if signum == signal.SIGINT:
        return  # resuming is the same after either signal: shown once, for SIGTERM

    bot = await start_bot(env, log)
    try:
        script = await discord_.wait_for(
            lambda r: r.route == "POST /channels/{channel_id}/messages" and bool(r.files), 60
        )
    finally:
        bot.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.wait(), 10) == 0
    assert script.files[0].filename.endswith(".fountain")
    resumed = [m for m in discord_.messages(channel) if "Resumed after a restart" in str(m.embeds)]
    assert resumed, "the resumed episode has a new status message"
    outline_asks = [r for r in api.requests if r.tool_name == "write_outline"]
    assert len(outline_asks) == 1, "the checkpointed outline was not asked for again"
    assert len(api.requests) > asked_before
