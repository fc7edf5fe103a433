"""The dashboard in a real headless Chromium, live, while the real bot writes an episode."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scriptgen.providers.base import StepKind
from tests.bot.harness import PREMISE, RoomFactory, delivered, start_episode
from tests.chromium import chromium_page, find_chromium
from tests.scripted_provider import ScriptedProvider

TOKEN = "dashboard-secret"
LATENCIES: dict[StepKind, float] = {
    "outline": 0.5,
    "dialogue": 1.2,
    "directions": 0.8,
    "comedy": 0.5,
    "refine": 0.3,
}
SCENE_STATES = """JSON.stringify([...document.querySelectorAll('[data-episode] [data-scene]')]
    .map((s) => [s.dataset.scene, s.dataset.state]))"""


@pytest.fixture
def chromium() -> str:
    found = find_chromium()
    if found is None:
        message = "chromium is not installed (apt-get install chromium; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


async def test_an_episode_appears_and_updates_live(
    chromium: str, make_room: RoomFactory, tmp_path: Path
) -> None:
    """The episode shows up with its scenes, their states change with no reload, the premise
    is never on the page, and it leaves the page once delivered; a screenshot is kept."""
    room = await make_room(
        ScriptedProvider(LATENCIES), http_port=0, dashboard_token=TOKEN, dashboard_interval=0.2
    )
    assert room.bot.ops.server is not None
    async with chromium_page(chromium) as page:
        await page.goto(f"{room.bot.ops.server.url}/?token={TOKEN}")
        await page.wait_for("document.getElementById('conn').textContent === 'live'")
        await page.evaluate("window.loadedOnce = true")  # gone if the page reloads
        await start_episode(room, scenes=3)
        shown = await page.wait_for(
            "document.querySelector('[data-episode]')?.dataset.episode", timeout=10
        )
        assert shown in room.bot.jobs.running
        seen: set[str] = set()
        screenshot = tmp_path / "dashboard.png"
        while not {"writing dialogue", "adding stage directions"} <= seen:
            states = json.loads(await page.evaluate(SCENE_STATES))
            if states:
                assert [number for number, _ in states] == ["1", "2", "3"]
            seen |= {state for _, state in states}
            if "adding stage directions" in seen and not screenshot.exists():
                await page.screenshot(screenshot)
            await page.wait_for(f"{SCENE_STATES} !== {json.dumps(json.dumps(states))}", 10)
        text = await page.evaluate("document.body.innerText")
        assert PREMISE not in text and "barista" not in text.lower()
        assert shown in text
        await delivered(room)
        await page.wait_for("!document.querySelector('[data-episode]')", timeout=10)
        steps = await page.evaluate(
            "[...document.querySelectorAll('#steps tr td:first-child')].map((td) => td.textContent)"
        )
        assert {"outline", "dialogue", "directions", "comedy"} <= set(steps)
        assert await page.evaluate("window.loadedOnce") is True
        assert page.exceptions == []
        if not screenshot.exists():
            await page.screenshot(screenshot)
        print(f"dashboard screenshot: {screenshot}")
