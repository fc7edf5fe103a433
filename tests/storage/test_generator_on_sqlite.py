"""The generator on a real SQLite file: a database that cannot be written for a while does not
stop the writing of episodes, and every step is in the file once the episode has returned."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from scriptgen.generator import ScriptGenerator
from scriptgen.models import EpisodeRequest
from storage import Database, EpisodeRecord, SqliteCheckpoints
from tests.scripted_provider import ScriptedProvider

pytestmark = pytest.mark.sqlite_only  # about SQLite itself: files, WAL, its connection

NewEpisode = Callable[..., Awaitable[EpisodeRecord]]


async def test_a_locked_database_does_not_hold_up_the_model_calls(
    db: Database, db_path: Path, new_episode: NewEpisode
) -> None:
    """Another connection holds the write lock (a second process, a maintenance job): the
    episode's calls go on meanwhile, and its steps land once the lock is released."""
    episode = await new_episode(
        request=EpisodeRequest(premise="The espresso machine unionizes.", scene_count=3)
    )
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        provider = ScriptedProvider({"dialogue": 0.01, "directions": 0.01})
        run = asyncio.create_task(
            ScriptGenerator(provider, 3).generate_full_script(
                episode.request, checkpoints=SqliteCheckpoints(db, episode.id)
            )
        )
        async with asyncio.timeout(4):  # well inside the 5 s busy_timeout
            while not any(r.key == "comedy" for r in provider.history):
                await asyncio.sleep(0.01)
        stored = other.execute(
            "SELECT count(*) FROM steps WHERE episode_id = ?", (episode.id,)
        ).fetchone()
        assert stored == (0,)
        assert not run.done()
        other.execute("COMMIT")
    finally:
        other.close()
    script = await run
    steps = await SqliteCheckpoints(db, episode.id).load()
    assert set(steps) == {u.step for u in script.usage}
    scene_steps = {f"scene:{n}:{k}" for n in (1, 2, 3) for k in ("dialogue", "directions")}
    assert {"outline", "comedy", *scene_steps} <= set(steps)
