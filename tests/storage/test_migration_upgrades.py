"""Upgrades: a database left at every earlier version opens with the current code, data kept."""

from __future__ import annotations

from pathlib import Path

import pytest

import storage.migrations
from scriptgen.models import EpisodeRequest
from storage import MIGRATIONS, Database, EpisodeStore
from storage.migrations import applied_migrations
from tests.storage.conftest import AUTHOR, CHANNEL, GUILD, build_script


@pytest.mark.parametrize("version", range(1, len(MIGRATIONS)))
async def test_upgrade_from_every_earlier_version_keeps_episodes(
    tmp_path: Path, version: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Episodes written by an older schema survive the upgrade and behave as new ones."""
    path = tmp_path / "old.db"
    request = EpisodeRequest(premise="A goat runs for mayor", scene_count=2)
    with monkeypatch.context() as old_code:
        old_code.setattr(storage.migrations, "MIGRATIONS", MIGRATIONS[:version])
        async with await Database.open(path) as old:
            store = EpisodeStore(old)
            finished = await store.create(
                guild_id=GUILD,
                channel_id=CHANNEL,
                author_id=AUTHOR,
                author_name="ada",
                request=request,
                provider="demo",
                model="demo",
            )
            await store.finish(finished.id, build_script(request))
            running = await store.create(
                guild_id=GUILD,
                channel_id=CHANNEL,
                author_id=AUTHOR + 1,
                author_name="bo",
                request=request,
                provider="demo",
                model="demo",
            )
            assert await applied_migrations(old) == [m.__name__ for m in MIGRATIONS[:version]]
    async with await Database.open(path) as db:
        assert await applied_migrations(db) == [m.__name__ for m in MIGRATIONS]
        store = EpisodeStore(db)
        done = await store.get(GUILD, finished.public_id)
        assert done is not None
        assert done.status == "done"
        assert done.script == build_script(request)
        assert [r.public_id for r in await store.list_unfinished()] == [running.public_id]
        assert await store.list_status_stale() == []  # ended before: taken as shown


async def test_status_shown_tracks_the_final_edit(tmp_path: Path) -> None:
    """A finished episode is stale until its final status is marked shown."""
    async with await Database.open(tmp_path / "s.db") as db:
        store = EpisodeStore(db)
        request = EpisodeRequest(premise="Two food trucks share a plug", scene_count=2)
        record = await store.create(
            guild_id=GUILD,
            channel_id=CHANNEL,
            author_id=AUTHOR,
            author_name="ada",
            request=request,
            provider="demo",
            model="demo",
        )
        assert await store.list_status_stale() == []
        await store.cancel(record.id, "ada")
        assert [r.id for r in await store.list_status_stale()] == [record.id]
        assert await store.mark_status_shown(record.id)
        assert await store.list_status_stale() == []
