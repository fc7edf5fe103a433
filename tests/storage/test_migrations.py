"""Migrations: applied once, in order, recorded; newer databases refused; indexes used."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import MIGRATIONS, Database, StorageError, Transaction
from storage.migrations import APPLICATION_ID, applied_migrations, migrate


async def _names(db: Database, kind: str) -> set[str]:
    """The schema's tables or indexes, without those the engine makes for keys itself."""
    if db.dialect == "sqlite":
        sql = "SELECT name FROM sqlite_schema WHERE type = ? AND name NOT LIKE 'sqlite_%'"
        rows = await db.fetchall(sql, (kind,))
    elif kind == "table":
        sql = (
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        rows = await db.fetchall(sql)
    else:
        sql = (
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        rows = await db.fetchall(sql)
    return {str(r[0]) for r in rows}


async def test_empty_file_gets_every_table(db: Database) -> None:
    """A new file has the episodes, rooms and rewrites tables, and _migrations."""
    assert await _names(db, "table") == {
        "_migrations",
        "episodes",
        "steps",
        "usage",
        "rooms",
        "room_writers",
        "room_characters",
        "room_gags",
        "room_summaries",
        "rewrites",
        "revisions",
        "rewrite_votes",
        "guild_budgets",
        "reservations",
    }


async def test_empty_file_gets_every_index(db: Database) -> None:
    """The indexes for recent, running, per-author, room and rewrite queries exist."""
    assert await _names(db, "index") == {
        "episodes_guild_recent",
        "episodes_unfinished",
        "episodes_author_unfinished",
        "episodes_undelivered",
        "episodes_status_stale",
        "usage_episode_time",
        "steps_usage",
        "episodes_room",
        "room_summaries_recent",
        "rewrites_scene_busy",
        "rewrites_episode",
        "rewrites_running",
        "rewrites_voting",
        "rewrites_undelivered",
        "rewrites_status_stale",
        "episodes_author_recent",
        "reservations_open",
        "reservations_episode",
        "reservations_rewrite",
    }


async def test_migrations_are_recorded_in_order(db: Database) -> None:
    """_migrations names every migration, in the order of MIGRATIONS."""
    assert await applied_migrations(db) == [fn.__name__ for fn in MIGRATIONS]


@pytest.mark.sqlite_only
async def test_application_id_marks_the_file(db: Database) -> None:
    """The file header says it is a Showrunner database."""
    row = await db.fetchone("PRAGMA application_id")
    assert row is not None
    assert row[0] == APPLICATION_ID


async def test_reopening_applies_nothing_twice(new_db_target: str | Path) -> None:
    """A second open applies no migration and keeps the original records."""
    async with await Database.open(new_db_target) as first:
        before = await first.fetchall("SELECT name, applied_at FROM _migrations")
    async with await Database.open(new_db_target) as second:
        assert await migrate(second) == []
        after = await second.fetchall("SELECT name, applied_at FROM _migrations")
    assert [tuple(r) for r in after] == [tuple(r) for r in before]


async def test_unknown_future_migration_is_refused(new_db_target: str | Path) -> None:
    """A database that records a migration this code lacks came from a newer Showrunner."""
    async with await Database.open(new_db_target) as db, db.transaction() as tx:
        await tx.execute(
            "INSERT INTO _migrations (name, applied_at) VALUES ('m999_from_the_future', 'later')"
        )
        label = db.label
    with pytest.raises(StorageError) as err:
        await Database.open(new_db_target)
    message = str(err.value)
    assert "newer Showrunner" in message
    assert "m999_from_the_future" in message
    assert label in message
    assert "\n" not in message


async def test_failed_migration_leaves_no_trace(db: Database) -> None:
    """A migration that fails half-way is rolled back whole and not recorded."""

    async def m002_broken(tx: Transaction) -> None:
        await tx.execute("CREATE TABLE half_done (id INTEGER)")
        raise RuntimeError("bug in migration")

    with pytest.raises(RuntimeError, match="bug in migration"):
        await migrate(db, [*MIGRATIONS, m002_broken])
    assert "half_done" not in await _names(db, "table")
    assert "m002_broken" not in await applied_migrations(db)


async def test_new_migration_is_applied_once(db: Database) -> None:
    """A migration appended later is applied on the next open, exactly once."""
    calls: list[str] = []

    async def m002_add_notes(tx: Transaction) -> None:
        calls.append("applied")
        await tx.execute("ALTER TABLE episodes ADD COLUMN notes TEXT")

    assert await migrate(db, [*MIGRATIONS, m002_add_notes]) == ["m002_add_notes"]
    assert await migrate(db, [*MIGRATIONS, m002_add_notes]) == []
    assert calls == ["applied"]


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        ("SELECT * FROM episodes WHERE guild_id = 1 ORDER BY id DESC LIMIT 10", "guild_recent"),
        ("SELECT * FROM episodes WHERE status IN ('queued', 'running') ORDER BY id", "unfinished"),
        (
            "SELECT * FROM episodes WHERE guild_id = 1 AND author_id = 2"
            " AND status IN ('queued', 'running')",
            "author_unfinished",
        ),
        (
            "SELECT count(*) FROM episodes WHERE guild_id = 1 AND status IN ('queued', 'running')",
            "author_unfinished",
        ),
        (
            "SELECT * FROM episodes WHERE status = 'done' AND delivered_message_id IS NULL",
            "undelivered",
        ),
    ],
)
@pytest.mark.sqlite_only  # SQLite's query plans; PostgreSQL plans by table statistics
async def test_queries_use_their_index(db: Database, sql: str, index: str) -> None:
    """The stores' queries are index searches, not table scans."""
    plan = " ".join(str(r[3]) for r in await db.fetchall(f"EXPLAIN QUERY PLAN {sql}"))
    assert f"INDEX episodes_{index}" in plan
    assert "TEMP B-TREE" not in plan


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        (
            "SELECT * FROM episodes WHERE status IN ('queued', 'running') AND status = 'running'"
            " ORDER BY id",
            "episodes_unfinished",
        ),
        (
            "SELECT * FROM episodes WHERE status IN ('queued', 'running') AND status = 'queued'"
            " AND updated_at < '2025' ORDER BY id",
            "episodes_unfinished",
        ),
        (
            "SELECT e.public_id, s.summary FROM room_summaries s"
            " JOIN episodes e ON e.id = s.episode_id"
            " WHERE s.room_id = 1 ORDER BY s.created_at DESC, s.episode_id DESC LIMIT 20",
            "room_summaries_recent",
        ),
        (
            "SELECT public_id, status FROM rewrites WHERE episode_id = 1 AND scene = 2"
            " AND status IN ('running', 'voting')",
            "rewrites_scene_busy",
        ),
        ("SELECT * FROM rewrites WHERE status = 'running' ORDER BY id", "rewrites_running"),
        ("SELECT * FROM rewrites WHERE status = 'voting' ORDER BY id", "rewrites_voting"),
        (
            "SELECT * FROM rewrites WHERE status = 'done' AND delivered_message_id IS NULL"
            " ORDER BY id",
            "rewrites_undelivered",
        ),
        (
            "SELECT * FROM rewrites WHERE status IN ('done', 'failed', 'cancelled')"
            " AND status_shown IS NOT status ORDER BY id",
            "rewrites_status_stale",
        ),
        (
            "SELECT * FROM revisions WHERE episode_id = 1 ORDER BY number DESC LIMIT 1",
            "sqlite_autoindex_revisions_2 (episode_id=?)",  # the primary key
        ),
    ],
)
@pytest.mark.sqlite_only
async def test_room_and_rewrite_queries_use_their_index(db: Database, sql: str, index: str) -> None:
    """The room and rewrite stores' queries are index searches, not table scans."""
    plan = " ".join(str(r[3]) for r in await db.fetchall(f"EXPLAIN QUERY PLAN {sql}"))
    assert f"INDEX {index}" in plan
    assert "TEMP B-TREE" not in plan
