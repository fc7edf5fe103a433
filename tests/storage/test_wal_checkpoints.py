"""WAL checkpoints off the writers' path, files refused before they are touched, no thread leaks."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import storage._wal
from scriptgen.models import CallUsage, SceneDialogue
from storage import Database, EpisodeRecord, SqliteCheckpoints, SqliteDatabase, StorageError

pytestmark = pytest.mark.sqlite_only  # about SQLite itself: files, WAL, its connection

NewEpisode = Callable[..., Awaitable[EpisodeRecord]]

DIALOGUE = SceneDialogue.model_validate({"lines": [{"character": "MAYA", "line": "Brew. Now."}]})


def wal_of(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def size_of(path: Path) -> int:
    return path.stat().st_size


async def test_no_checkpoint_runs_inside_a_commit(db: SqliteDatabase) -> None:
    """The automatic checkpoint is off on the writing connection: a second one does them."""
    row = await db.fetchone("PRAGMA wal_autocheckpoint")
    assert row is not None
    assert row[0] == 0
    assert db._wal is not None


async def test_background_checkpoints_keep_the_wal_small(
    db: SqliteDatabase, db_path: Path, new_episode: NewEpisode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saves back to back, with no gap for a checkpoint to complete in: the WAL is still
    restarted once it passes its limit, so the file stays bounded by it, not by the writes."""
    monkeypatch.setattr(storage._wal, "CHECKPOINT_EVERY", 8)
    monkeypatch.setattr(storage._wal, "WAL_LIMIT_PAGES", 128)  # 512 KiB
    episode = await new_episode()
    checkpoints = SqliteCheckpoints(db, episode.id)
    big = SceneDialogue.model_validate(
        {"lines": [{"character": "MAYA", "line": "word " * 150} for _ in range(10)]}
    )
    for n in range(400):  # ~8 KiB of payload each: 3+ MiB in all
        await checkpoints.save(f"step:{n}", big, CallUsage(step=f"step:{n}", model="m"))
    assert db._wal is not None
    # How many passes complete depends on how busy the machine is (a pass runs beside the
    # writes, on another connection); what must hold is that some did, and the bound below.
    assert db._wal.checkpoints >= 2
    assert size_of(db_path) > 3 * 1024 * 1024
    # Never restarted, the WAL would hold every page of every commit: ~9 MiB here. Restarted
    # past the limit, it holds what came between two restarts (a cycle of passes: a few commits
    # on a busy machine).
    assert size_of(wal_of(db_path)) < 4 * 1024 * 1024


async def test_a_quiet_database_is_checkpointed_after_its_last_write(
    db: SqliteDatabase, new_episode: NewEpisode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A few commits, then nothing: a checkpoint follows shortly, without more commits."""
    monkeypatch.setattr(storage._wal, "CHECKPOINT_AFTER", 0.01)
    assert db._wal is not None
    before = db._wal.checkpoints
    await new_episode()
    for _ in range(100):
        if db._wal.checkpoints > before:
            break
        await asyncio.sleep(0.01)
    assert db._wal.checkpoints == before + 1


async def test_close_leaves_an_empty_wal(
    db: SqliteDatabase, db_path: Path, new_episode: NewEpisode
) -> None:
    """Closing folds the WAL into the file (TRUNCATE): the .db file alone holds every save."""
    episode = await new_episode()
    async with await Database.open(db_path) as second:
        await SqliteCheckpoints(second, episode.id).save(
            "outline", DIALOGUE, CallUsage(step="outline", model="m")
        )
        assert size_of(wal_of(db_path)) > 0
    # The fixture's Database is still open, so the WAL file remains: empty.
    assert size_of(wal_of(db_path)) == 0
    assert list(await SqliteCheckpoints(db, episode.id).load()) == ["outline"]


def _foreign(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER)")
        conn.execute("INSERT INTO invoices (total) VALUES (42)")
    conn.close()
    return path


async def test_another_applications_file_is_left_byte_for_byte(tmp_path: Path) -> None:
    """Refused before anything writes: same bytes, still journal_mode=delete, no -wal/-shm."""
    path = _foreign(tmp_path / "invoices.db")
    before = path.read_bytes()
    with pytest.raises(StorageError, match="another application"):
        await Database.open(path)
    assert path.read_bytes() == before
    assert await asyncio.to_thread(os.listdir, tmp_path) == ["invoices.db"]


async def test_damage_past_the_schema_is_refused_at_open(tmp_path: Path) -> None:
    """Zeroed data pages, schema intact: refused at open, one line, restore from a backup."""
    path = tmp_path / "showrunner.db"
    async with await Database.open(path) as db, db.transaction() as tx:
        for n in range(60):
            await tx.execute(
                "INSERT INTO episodes (public_id, guild_id, channel_id, author_id,"
                " author_name, request, status, created_at, updated_at, provider, model)"
                " VALUES (?, 1, 2, 3, 'a', ?, 'running', 'x', 'x', 'demo', 'demo')",
                (f"ep-{n:05d}", '{"premise": "' + "p" * 3000 + '"}'),
            )
    pages = size_of(path) // 4096
    assert pages > 40, pages
    with path.open("r+b") as file:
        file.seek((pages - 20) * 4096)
        file.write(bytes(10 * 4096))
    with pytest.raises(StorageError) as err:
        await Database.open(path)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    assert "malformed" in message
    assert "restore it from a backup" in message
    assert err.value.__cause__ is None


def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


async def test_opening_and_closing_leave_no_thread_behind(tmp_path: Path) -> None:
    """Two connections, two threads per Database: all stopped by close, and by a refused open."""
    async with await Database.open(tmp_path / "first.db"):
        pass  # starts the event loop's default executor (used by open), which stays
    before = _threads()
    foreign = _foreign(tmp_path / "foreign.db")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"x" * 8192)
    for n in range(10):
        async with await Database.open(tmp_path / f"db-{n % 3}.db") as db:
            await db.fetchall("SELECT 1")
        for refused in (foreign, garbage):
            with pytest.raises(StorageError):
                await Database.open(refused)
    for _ in range(500):  # a stopped worker thread ends a moment after close() returns
        left = [t for t in _threads() - before if t.is_alive()]
        if not left:
            break
        await asyncio.sleep(0.01)
    assert left == []
