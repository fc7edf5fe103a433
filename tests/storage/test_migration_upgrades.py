"""Upgrades: a database left at every earlier version opens with the current code, data kept."""

from __future__ import annotations

from pathlib import Path

import pytest

import storage.migrations
from scriptgen.models import CallUsage, EpisodeRequest, EpisodeSummary, Script
from storage import (
    MIGRATIONS,
    BudgetExceeded,
    BudgetStore,
    Database,
    EpisodeStore,
    QuotaExceeded,
    RewriteStore,
    RoomStore,
    SqliteCheckpoints,
    UsageLog,
)
from storage._time import to_db
from storage.budgets import month_start
from storage.migrations import applied_migrations
from tests.storage.conftest import AUTHOR, CHANNEL, GUILD, FakeClock, build_script

REQUEST = EpisodeRequest(premise="A goat runs for mayor", scene_count=2)


async def _old_episode(db: Database, public_id: str, author_id: int, script: Script | None) -> int:
    """Insert an episode with the columns every schema version has (m001's), as old code did.

    Raw SQL on purpose: today's EpisodeStore writes columns an old schema lacks.
    """
    now = to_db(db.now())
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "INSERT INTO episodes (public_id, guild_id, channel_id, author_id, author_name,"
            " request, status, created_at, updated_at, finished_at, script, provider, model)"
            " VALUES (?, ?, ?, ?, 'ada', ?, ?, ?, ?, ?, ?, 'demo', 'demo') RETURNING id",
            (
                public_id,
                GUILD,
                CHANNEL,
                author_id,
                REQUEST.model_dump_json(),
                "running" if script is None else "done",
                now,
                now,
                None if script is None else now,
                None if script is None else script.model_dump_json(),
            ),
        )
    assert row is not None
    return int(row[0])


async def _make_old_database(
    path: str | Path, version: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file at ``version`` migrations, holding a done episode with a step and a running one."""
    with monkeypatch.context() as old_code:
        old_code.setattr(storage.migrations, "MIGRATIONS", MIGRATIONS[:version])
        async with await Database.open(path) as old:
            done = await _old_episode(old, "ep-dddd2", AUTHOR, build_script(REQUEST))
            await _old_episode(old, "ep-rrrr2", AUTHOR + 1, None)
            usage = CallUsage(step="outline", model="demo", output_tokens=7)
            await SqliteCheckpoints(old, done).save("outline", usage, usage)
            assert await applied_migrations(old) == [m.__name__ for m in MIGRATIONS[:version]]


@pytest.mark.parametrize("version", range(1, len(MIGRATIONS)))
async def test_upgrade_from_every_earlier_version_keeps_episodes(
    new_db_target: str | Path, version: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Episodes written by an older schema survive the upgrade and behave as new ones."""
    path = new_db_target
    await _make_old_database(path, version, monkeypatch)
    async with await Database.open(path) as db:
        assert await applied_migrations(db) == [m.__name__ for m in MIGRATIONS]
        store = EpisodeStore(db)
        done = await store.get(GUILD, "ep-dddd2")
        assert done is not None
        assert (done.status, done.script, done.room_id) == ("done", build_script(REQUEST), None)
        assert [r.public_id for r in await store.list_unfinished()] == ["ep-rrrr2"]
        assert await store.list_in_review() == []
        # Ended before m002: taken as shown. Ended after it, never marked shown: stale.
        shown_known = "m002_status_shown" in [m.__name__ for m in MIGRATIONS[:version]]
        stale = [r.public_id for r in await store.list_status_stale()]
        assert stale == (["ep-dddd2"] if shown_known else [])
        assert list(await SqliteCheckpoints(db, done.id).load()) == ["outline"]


@pytest.mark.parametrize("version", range(1, len(MIGRATIONS)))
async def test_upgraded_episodes_take_rooms_and_rewrites(
    new_db_target: str | Path, version: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An episode from before rooms can be rewritten, summarised into a room, and deleted."""
    path = new_db_target
    await _make_old_database(path, version, monkeypatch)
    async with await Database.open(path) as db:
        done = await EpisodeStore(db).get(GUILD, "ep-dddd2")
        assert done is not None and done.script is not None
        rewrites = RewriteStore(db)
        rewrite = await rewrites.create(
            episode=done, scene=1, note="Goatier.", takes=1, author_id=AUTHOR, author_name="ada"
        )
        assert await rewrites.complete(rewrite.id, done.script, chosen_take=None, chosen_by=None)
        assert [r.number for r in await rewrites.list_revisions(done)] == [1, 2]
        rooms = RoomStore(db)
        room = await rooms.create(
            guild_id=GUILD,
            channel_id=CHANNEL,
            name="Goat Town",
            logline="",
            tone="",
            setting="",
            showrunner_id=AUTHOR,
            showrunner_name="ada",
        )
        assert await rooms.add_summary(room.id, done.id, EpisodeSummary(title="Goat"))
        assert await EpisodeStore(db).delete(done.id)
        assert await rooms.recent_summaries(room.id) == []


async def test_status_shown_tracks_the_final_edit(new_db_target: str | Path) -> None:
    """A finished episode is stale until its final status is marked shown."""
    async with await Database.open(new_db_target) as db:
        store = EpisodeStore(db)
        record = await store.create(
            guild_id=GUILD,
            channel_id=CHANNEL,
            author_id=AUTHOR,
            author_name="ada",
            request=REQUEST,
            provider="demo",
            model="demo",
        )
        assert await store.list_status_stale() == []
        await store.cancel(record.id, "ada")
        assert [r.id for r in await store.list_status_stale()] == [record.id]
        assert await store.mark_status_shown(record.id)
        assert await store.list_status_stale() == []


async def test_budgets_start_from_the_ledger_of_an_m003_database(
    new_db_target: str | Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    """After m004, what was spent before it counts against the month, the writers' earlier
    episodes against their day, and reservations attach to episodes the old schema wrote."""
    path = new_db_target
    m003 = [m.__name__ for m in MIGRATIONS].index("m003_rooms") + 1
    with monkeypatch.context() as old_code:
        old_code.setattr(storage.migrations, "MIGRATIONS", MIGRATIONS[:m003])
        async with await Database.open(path, clock=clock) as old:
            running = await _old_episode(old, "ep-rrrr2", AUTHOR, None)
            paid = CallUsage(step="outline", model="claude-haiku-4-5", output_tokens=200_000)
            await UsageLog(old).record(running, paid, "error")  # $1.00, failed but paid
    async with await Database.open(path, clock=clock) as db:
        assert (await applied_migrations(db))[m003:] == [m.__name__ for m in MIGRATIONS[m003:]]
        budgets = BudgetStore(db)
        assert await budgets.spent(GUILD, month_start(clock())) == pytest.approx(1.0)

        async def reserve(amount: float) -> int:
            made = await budgets.reserve(
                guild_id=GUILD,
                author_id=AUTHOR,
                amount_usd=amount,
                monthly_limit=1.5,
                daily_episodes=2,
                counts_as_episode=True,
                now=clock(),
            )
            return made.id

        with pytest.raises(BudgetExceeded):
            await reserve(0.6)
        made = await reserve(0.5)
        with pytest.raises(QuotaExceeded):  # the old episode and the start just made
            await reserve(0.0)
        assert await budgets.attach(made, episode_id=running)
        report = await budgets.report(GUILD, month_start(clock()))
        assert [(r.name, r.failed_calls) for r in report.by_writer] == [("ada", 1)]
