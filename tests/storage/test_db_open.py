"""Database: opening real files, the errors operators see, and transactions under asyncio."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
from pathlib import Path

import pytest

from storage import Database, StorageError


def assert_one_line_naming(err: pytest.ExceptionInfo[StorageError], path: Path) -> str:
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    return message


async def test_open_creates_missing_parent_directories(tmp_path: Path) -> None:
    """A path in directories that do not exist yet is created, file and all."""
    path = tmp_path / "a" / "b" / "showrunner.db"
    async with await Database.open(path):
        pass
    assert path.is_file()


@pytest.mark.sqlite_only
async def test_journal_mode_is_wal(db: Database, db_path: Path) -> None:
    """The file is in WAL mode, so readers in other processes do not block the writer."""
    row = await db.fetchone("PRAGMA journal_mode")
    assert row is not None
    assert row[0] == "wal"
    assert db_path.with_name(db_path.name + "-wal").exists()


@pytest.mark.sqlite_only
async def test_foreign_keys_are_enforced(db: Database) -> None:
    """Foreign keys are on: a step for a missing episode is refused."""
    row = await db.fetchone("PRAGMA foreign_keys")
    assert row is not None
    assert row[0] == 1
    with pytest.raises(StorageError, match="FOREIGN KEY"):
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO steps (episode_id, key, payload, usage_id, created_at)"
                " VALUES (999, 'outline', '{}', 999, 'now')"
            )


@pytest.mark.sqlite_only
async def test_busy_timeout_and_synchronous(db: Database) -> None:
    """Writers wait up to 5 s for a lock, and WAL commits use synchronous=NORMAL."""
    timeout = await db.fetchone("PRAGMA busy_timeout")
    synchronous = await db.fetchone("PRAGMA synchronous")
    assert timeout is not None
    assert synchronous is not None
    assert (timeout[0], synchronous[0]) == (5000, 1)


async def test_unwritable_directory_is_one_line_error(unwritable_dir: Path) -> None:
    """A directory the process cannot write to gives one line naming the database path."""
    path = unwritable_dir / "showrunner.db"
    with pytest.raises(StorageError) as err:
        await Database.open(path)
    message = assert_one_line_naming(err, path)
    assert "writable" in message


async def test_read_only_file_is_refused_at_open(db_path: Path) -> None:
    """A database file this process cannot write fails at open, not at the first save."""
    async with await Database.open(db_path):
        pass
    await asyncio.to_thread(db_path.chmod, 0o400)
    if os.access(db_path, os.W_OK):
        pytest.skip("running as root: permission bits do not stop writes to a file")
    with pytest.raises(StorageError) as err:
        await Database.open(db_path)
    assert "writable" in assert_one_line_naming(err, db_path)


async def test_path_under_a_regular_file_is_one_line_error(tmp_path: Path) -> None:
    """A parent that is a file, not a directory, is reported rather than crashing mkdir."""
    blocker = tmp_path / "settings.toml"
    blocker.write_text("x = 1\n")
    path = blocker / "db" / "showrunner.db"
    with pytest.raises(StorageError) as err:
        await Database.open(path)
    assert "choose a path in a writable directory" in assert_one_line_naming(err, path)


async def test_directory_as_path_is_refused(tmp_path: Path) -> None:
    """Giving a directory suggests a file name inside it."""
    with pytest.raises(StorageError) as err:
        await Database.open(tmp_path)
    message = assert_one_line_naming(err, tmp_path)
    assert "is a directory" in message
    assert str(tmp_path / "showrunner.db") in message


async def test_random_bytes_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    """A file of random bytes: one line naming it and what to do; the file is not modified."""
    path = tmp_path / "showrunner.db"
    garbage = random.Random(1).randbytes(8192)
    path.write_bytes(garbage)
    with pytest.raises(StorageError) as err:
        await Database.open(path)
    message = assert_one_line_naming(err, path)
    assert "restore it from a backup, or move it aside" in message
    assert err.value.__cause__ is None
    assert path.read_bytes() == garbage


async def test_damaged_schema_page_is_refused(tmp_path: Path) -> None:
    """A real database whose first page is overwritten is reported as damaged."""
    path = tmp_path / "showrunner.db"
    async with await Database.open(path):
        pass
    data = bytearray(path.read_bytes())
    data[100:4096] = random.Random(2).randbytes(4096 - 100)
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError) as err:
        await Database.open(path)
    assert "not a usable Showrunner database" in assert_one_line_naming(err, path)


async def test_another_applications_database_is_refused(tmp_path: Path) -> None:
    """An SQLite file with someone else's tables is not adopted (nor written to)."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.close()
    with pytest.raises(StorageError) as err:
        await Database.open(path)
    assert "another application" in assert_one_line_naming(err, path)
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema")}
    conn.close()
    assert tables == {"invoices"}


async def test_memory_database_works() -> None:
    """':memory:' opens a private, migrated database."""
    async with await Database.open(":memory:") as db:
        row = await db.fetchone("SELECT count(*) FROM episodes")
        assert row is not None
        assert row[0] == 0


async def test_closed_database_raises_storage_error(db_target: str | Path) -> None:
    """Using a closed database is a StorageError; closing twice is harmless."""
    db = await Database.open(db_target)
    await db.close()
    await db.close()
    with pytest.raises(StorageError, match="closed"):
        await db.fetchall("SELECT 1")


# -- transactions ----------------------------------------------------------------------------


async def _count(db: Database, table: str = "t") -> int:
    row = await db.fetchone(f"SELECT count(*) FROM {table}")
    assert row is not None
    return int(row[0])


@pytest.fixture
async def scratch(db: Database) -> Database:
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE t (n INTEGER NOT NULL)")
    return db


async def test_transaction_commits(scratch: Database) -> None:
    """Statements in a transaction are visible once the block ends normally."""
    async with scratch.transaction() as tx:
        await tx.execute("INSERT INTO t VALUES (1)")
        await tx.execute("INSERT INTO t VALUES (2)")
    assert await _count(scratch) == 2


async def test_exception_rolls_back(scratch: Database) -> None:
    """An exception in the block rolls back every statement in it."""

    async def insert_then_fail() -> None:
        async with scratch.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (1)")
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await insert_then_fail()
    assert await _count(scratch) == 0


async def test_cancelled_transaction_rolls_back_and_connection_stays_usable(
    scratch: Database,
) -> None:
    """Cancelling a task inside a transaction rolls it back; the next transaction works."""
    inside = asyncio.Event()

    async def writer() -> None:
        async with scratch.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (1)")
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(writer())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with scratch.transaction() as tx:
        await tx.execute("INSERT INTO t VALUES (2)")
    rows = await scratch.fetchall("SELECT n FROM t")
    assert [r[0] for r in rows] == [2]


async def test_read_never_sees_another_tasks_uncommitted_write(scratch: Database) -> None:
    """A read waits for a transaction in progress instead of seeing rows it will roll back."""
    inside = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        async with scratch.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (1)")
            inside.set()
            await release.wait()
            raise RuntimeError("changed my mind")

    task = asyncio.create_task(writer())
    await inside.wait()
    reader = asyncio.create_task(_count(scratch))
    await asyncio.sleep(0.01)
    release.set()
    with pytest.raises(RuntimeError):
        await task
    assert await reader == 0


async def test_nested_transaction_is_refused(scratch: Database) -> None:
    """Starting a transaction, or reading through the database, inside one is a clear error."""
    async with scratch.transaction():
        with pytest.raises(RuntimeError, match=r"inside db\.transaction"):
            async with scratch.transaction():
                pass
        with pytest.raises(RuntimeError, match=r"inside db\.transaction"):
            await scratch.fetchall("SELECT 1")


async def test_transaction_handle_is_unusable_after_the_block(scratch: Database) -> None:
    """Keeping ``tx`` past its block cannot write outside a transaction."""
    async with scratch.transaction() as tx:
        pass
    with pytest.raises(RuntimeError, match="ended"):
        await tx.execute("INSERT INTO t VALUES (1)")


async def test_two_databases_on_one_file_both_write(
    db_target: str | Path, scratch: Database
) -> None:
    """Two processes' worth of connections (scale-out) interleave writes without losing any."""
    async with await Database.open(db_target) as second:

        async def write(db: Database, n: int) -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES (?)", (n,))

        await asyncio.gather(*(write(scratch if n % 2 else second, n) for n in range(40)))
    assert await _count(scratch) == 40
