"""The operations server over real HTTP, with the real bot against the fake Discord."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.__main__ import build_bot, build_generator
from scriptgen.errors import ConfigurationError
from scriptgen.pricing import estimate_cost
from storage import Database, UsageLog
from tests.bot.harness import (
    EDIT_ORIGINAL,
    PREMISE,
    QUICK,
    Room,
    RoomFactory,
    delivered,
    description,
    make_settings,
    start_episode,
)
from tests.fake_discord import FakeDiscord
from tests.scripted_provider import ScriptedProvider

TOKEN = "dashboard-secret"
SYNC_COMMANDS = "PUT /applications/{application_id}/guilds/{guild_id}/commands"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_url(room: Room) -> str:
    assert room.bot.ops.server is not None
    return room.bot.ops.server.url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, object]]:
    async with http.get(url) as response:
        return response.status, await response.json()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def held_sync(fake: FakeDiscord) -> None:
    """The bot's command sync (after the operations server starts, before the gateway
    connects) is answered 1.5 s late."""
    fake.stall(SYNC_COMMANDS, seconds=1.5)


async def test_readiness_follows_the_gateway_and_the_database(
    held_sync: None, make_room: RoomFactory, http: aiohttp.ClientSession
) -> None:
    """/readyz is 503 while the gateway connects, 200 once ready, 503 when the database is
    closed; /healthz answers throughout."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    async def first_readiness() -> tuple[int, dict[str, object]]:
        while True:
            try:
                return await get_json(http, f"{base}/readyz")
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.02)

    async def connect() -> Room:
        return await make_room(http_port=port)

    room_task = asyncio.create_task(connect())
    status, body = await asyncio.wait_for(first_readiness(), 10)
    assert status == 503
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert checks["gateway"]["ok"] is False
    assert "not connected" in checks["gateway"]["detail"]
    assert checks["database"] == {"ok": True, "detail": "answers"}
    health_status, health = await get_json(http, f"{base}/healthz")
    assert health_status == 200 and health["status"] == "ok"

    room = await room_task
    status, body = await get_json(http, f"{base}/readyz")
    assert status == 200, body
    assert body["status"] == "ready"
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert all(check["ok"] for check in checks.values())
    assert "showrunner-demo" in checks["provider"]["detail"]

    await room.db.close()
    status, body = await get_json(http, f"{base}/readyz")
    assert status == 503
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert checks["database"]["ok"] is False
    assert "closed" in checks["database"]["detail"]
    assert checks["gateway"]["ok"] is True


async def test_dashboard_needs_its_token(
    make_room: RoomFactory, http: aiohttp.ClientSession
) -> None:
    """No token: 401; a wrong one: 403; the right one (query or bearer header): the page and
    its event stream."""
    room = await make_room(http_port=0, dashboard_token=TOKEN)
    base = server_url(room)
    for path in ("/", "/events"):
        async with http.get(base + path) as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        async with http.get(base + path, params={"token": "guess"}) as response:
            assert response.status == 403
        async with http.get(base + path, headers={"Authorization": "Bearer guess"}) as response:
            assert response.status == 403
    async with http.get(base + "/", params={"token": TOKEN}) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
        assert "<title>Showrunner · operations</title>" in page
        assert "EventSource" in page
    async with http.get(base + "/events", headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        line = await asyncio.wait_for(response.content.readline(), 5)
        snapshot = json.loads(line.decode().removeprefix("data: "))
        assert snapshot["episodes"] == [] and snapshot["limiter"]["max"] == 8
    # Health and metrics stay open: they show no writer's text.
    async with http.get(base + "/metrics") as response:
        assert response.status == 200


async def test_dashboard_is_off_without_a_token(
    make_room: RoomFactory, http: aiohttp.ClientSession
) -> None:
    """Without SHOWRUNNER_DASHBOARD_TOKEN the page is refused and says how to turn it on."""
    room = await make_room(http_port=0)
    async with http.get(server_url(room) + "/", params={"token": "anything"}) as response:
        assert response.status == 404
        assert "SHOWRUNNER_DASHBOARD_TOKEN" in await response.text()


async def test_metrics_count_an_episode(
    make_room: RoomFactory, http: aiohttp.ClientSession
) -> None:
    """After one episode (whose first status edit Discord answers 429): its calls by step and
    outcome, tokens, the episode by outcome, status edits, the 429, checkpoint commits and the
    loop's lag; no guild id or premise anywhere."""
    room = await make_room(http_port=0)
    room.fake.rate_limit(EDIT_ORIGINAL, times=1, retry_after=0.2)
    inter = await start_episode(room, scenes=2)
    await delivered(room)
    await inter.wait_for_original_edit(lambda m: "2 scenes" in description(m), 10)
    async with http.get(server_url(room) + "/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    found = samples(text)
    calls = "showrunner_model_calls_total"
    assert value(found, calls, step="outline", outcome="ok") == 1
    assert value(found, calls, step="dialogue", outcome="ok") == 2
    assert value(found, calls, step="directions", outcome="ok") == 2
    assert value(found, calls, step="comedy", outcome="ok") >= 1
    assert value(found, "showrunner_model_call_duration_seconds_count", step="dialogue") == 2
    tokens = "showrunner_model_tokens_total"
    assert value(found, tokens, model="showrunner-demo", kind="output") > 0
    assert value(found, tokens, model="showrunner-demo", kind="input") > 0
    assert value(found, "showrunner_episodes_total", outcome="done") == 1
    assert value(found, "showrunner_episodes_in_flight") == 0
    assert value(found, "showrunner_status_edits_total", outcome="ok") >= 2
    assert value(found, "showrunner_discord_responses_total", status="429") == 1
    assert value(found, "showrunner_discord_responses_total", status="200") > 5
    assert value(found, "showrunner_checkpoint_commit_seconds_count") >= 6
    assert value(found, "showrunner_event_loop_lag_seconds_count") > 0
    assert value(found, "showrunner_limiter_max_capacity") == 8
    assert value(found, "showrunner_limiter_in_flight") == 0
    assert str(room.guild.id) not in text and str(room.author.id) not in text
    assert PREMISE not in text and "barista" not in text


async def test_a_taken_port_is_a_setting_to_fix(fake: FakeDiscord, tmp_path: Path) -> None:
    """The port in use: the bot stops at start with one line naming SHOWRUNNER_HTTP_PORT."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = make_settings(tmp_path, fake, http_port=port)
        async with await Database.open(settings.db_path) as db:
            bot = build_bot(settings, db, build_generator(settings, ScriptedProvider()))
            with pytest.raises(ConfigurationError, match="SHOWRUNNER_HTTP_PORT: cannot listen on"):
                await bot.start(settings.discord_token.get_secret_value())
            await bot.close()


async def test_cost_today_survives_a_restart(make_room: RoomFactory) -> None:
    """The dashboard's cost today is the ledger's: a restarted bot starts from what the day's
    calls cost before it, then adds its own."""
    priced = "claude-sonnet-5-5"
    room = await make_room(ScriptedProvider(QUICK, model=priced))
    await start_episode(room, scenes=2)
    await delivered(room)
    [record] = await room.bot.episodes.list_recent(room.guild.id)
    cost = estimate_cost(priced, await UsageLog(room.db).totals(record.id))
    assert cost is not None and cost > 0
    assert room.bot.ops.snapshot()["cost_today"]["usd"] == pytest.approx(cost)
    await room.bot.close()

    again = await make_room(ScriptedProvider(QUICK, model=priced))
    assert again.bot.ops.snapshot()["cost_today"]["usd"] == pytest.approx(cost)
    second = time.monotonic()
    await start_episode(again, again.other, scenes=2)
    await delivered(again, since=second)
    assert again.bot.ops.snapshot()["cost_today"]["usd"] > cost * 1.5
