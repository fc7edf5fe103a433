"""Group commit: saves arriving together share one statement, yet each keeps its own outcome."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from scriptgen.models import CallUsage, SceneDialogue
from storage import Database, EpisodeRecord, SqliteCheckpoints, SqliteDatabase, StorageError
from storage._group import GroupCommit
from storage.database import Row, SqlValue

pytestmark = pytest.mark.sqlite_only  # about SQLite itself: files, WAL, its connection

NewEpisode = Callable[..., Awaitable[EpisodeRecord]]

DIALOGUE = SceneDialogue.model_validate({"lines": [{"character": "MAYA", "line": "Brew. Now."}]})


def call(step: str, **numbers: int | float) -> CallUsage:
    return CallUsage.model_validate({"step": step, "model": "demo-1", **numbers})


async def _count(db: SqliteDatabase, sql: str) -> int:
    row = await db.fetchone(sql)
    assert row is not None
    return int(row[0])


@contextlib.asynccontextmanager
async def connection_held(db: SqliteDatabase) -> AsyncIterator[asyncio.Event]:
    """Another task keeps a transaction open until the event is set: saves meanwhile queue."""
    inside, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with db.transaction():
            inside.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await inside.wait()
    try:
        yield release
    finally:
        release.set()
        await holder


@pytest.fixture
def statements(db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements the database sends to its connection from now on (SQL only)."""
    seen: list[str] = []
    fetchall = db._fetchall

    async def spy(sql: str, params: Sequence[SqlValue] = ()) -> list[Row]:
        seen.append(sql)
        return await fetchall(sql, params)

    monkeypatch.setattr(db, "_fetchall", spy)
    monkeypatch.setattr(db._group, "_run", spy)
    return seen


async def test_saves_arriving_together_share_statements(
    db: SqliteDatabase, new_episode: NewEpisode, statements: list[str]
) -> None:
    """Fifty episodes saving at once: fewer than fifty statements, every step with its call."""
    episodes = [await new_episode(author_id=n) for n in range(50)]
    statements.clear()
    await asyncio.gather(
        *(
            SqliteCheckpoints(db, episode.id).save("outline", DIALOGUE, call(f"outline:{n}"))
            for n, episode in enumerate(episodes)
        )
    )
    saves = [sql for sql in statements if sql.startswith("INSERT INTO temp.step_saves")]
    assert 1 < len(saves) < 50
    assert len(saves) == len(statements)  # no BEGIN, no COMMIT: each is its own transaction
    rows = await db.fetchall(
        "SELECT s.episode_id, u.episode_id, u.step, u.outcome FROM steps s"
        " JOIN usage u ON u.id = s.usage_id ORDER BY s.episode_id"
    )
    assert [tuple(r) for r in rows] == [
        (e.id, e.id, f"outline:{n}", "ok") for n, e in enumerate(episodes)
    ]


async def test_a_lone_save_is_one_statement(
    db: SqliteDatabase, new_episode: NewEpisode, statements: list[str]
) -> None:
    """Nothing to wait for: one INSERT, its own transaction, and no BEGIN/COMMIT round trips."""
    episode = await new_episode()
    statements.clear()
    await SqliteCheckpoints(db, episode.id).save("outline", DIALOGUE, call("outline"))
    assert len(statements) == 1
    assert statements[0].startswith("INSERT INTO temp.step_saves")


async def test_one_failing_save_fails_alone(db: SqliteDatabase, new_episode: NewEpisode) -> None:
    """A save for a missing episode, queued with good ones, fails; the others all land."""
    episodes = [await new_episode(author_id=n) for n in range(10)]
    async with connection_held(db) as release:
        saves = [
            asyncio.create_task(
                SqliteCheckpoints(db, episode.id).save("outline", DIALOGUE, call("outline"))
            )
            for episode in episodes
        ]
        doomed = asyncio.create_task(
            SqliteCheckpoints(db, 4242).save("outline", DIALOGUE, call("outline"))
        )
        saves.insert(5, doomed)
        await asyncio.sleep(0)
        release.set()
    results = await asyncio.gather(*saves, return_exceptions=True)
    failed = [r for r in results if r is not None]
    assert len(failed) == 1
    assert isinstance(failed[0], StorageError)
    assert "FOREIGN KEY" in str(failed[0])
    assert await _count(db, "SELECT count(*) FROM steps") == 10
    assert await _count(db, "SELECT count(*) FROM usage") == 10  # no orphan ledger row


async def test_a_save_cancelled_while_queued_is_not_written(
    db: SqliteDatabase, new_episode: NewEpisode
) -> None:
    """Cancelled before its statement: withdrawn. The saves queued with it are unaffected."""
    episode = await new_episode()
    checkpoints = SqliteCheckpoints(db, episode.id)
    async with connection_held(db):
        kept = [
            asyncio.create_task(checkpoints.save(f"step:{n}", DIALOGUE, call(f"step:{n}")))
            for n in range(3)
        ]
        cancelled = asyncio.create_task(checkpoints.save("gone", DIALOGUE, call("gone")))
        await asyncio.sleep(0)
        cancelled.cancel()
    await asyncio.gather(*kept)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert sorted(await checkpoints.load()) == ["step:0", "step:1", "step:2"]
    assert await _count(db, "SELECT count(*) FROM usage") == 3


async def test_close_writes_the_saves_still_queued(db_path: Path, new_episode: NewEpisode) -> None:
    """Saves queued when the database closes are committed first; later ones are refused."""
    episode = await new_episode()
    db = await Database.open(db_path)
    checkpoints = SqliteCheckpoints(db, episode.id)
    saves = [
        asyncio.create_task(checkpoints.save(f"step:{n}", DIALOGUE, call(f"step:{n}")))
        for n in range(30)
    ]
    await asyncio.sleep(0)
    await db.close()
    await asyncio.gather(*saves)
    with pytest.raises(StorageError, match="closed"):
        await checkpoints.save("late", DIALOGUE, call("late"))
    async with await Database.open(db_path) as reopened:
        assert len(await SqliteCheckpoints(reopened, episode.id).load()) == 30


async def test_saving_inside_a_transaction_is_refused(
    db: SqliteDatabase, new_episode: NewEpisode
) -> None:
    """The save would wait for the transaction that waits for it: a clear error instead."""
    episode = await new_episode()
    async with db.transaction():
        with pytest.raises(RuntimeError, match=r"inside db\.transaction"):
            await SqliteCheckpoints(db, episode.id).save("outline", DIALOGUE, call("outline"))


async def test_failed_calls_are_recorded_grouped(
    db: SqliteDatabase, new_episode: NewEpisode
) -> None:
    """record_failure adds 'error' ledger rows, no steps; concurrent ones all land."""
    episode = await new_episode()
    checkpoints = SqliteCheckpoints(db, episode.id)
    await asyncio.gather(
        *(checkpoints.record_failure("outline", call("outline", retries=n)) for n in range(20))
    )
    rows = await db.fetchall("SELECT outcome, retries FROM usage ORDER BY retries")
    assert [tuple(r) for r in rows] == [("error", n) for n in range(20)]
    assert await checkpoints.load() == {}
    with pytest.raises(StorageError, match="FOREIGN KEY"):
        await SqliteCheckpoints(db, 4242).record_failure("outline", call("outline"))


# -- the queue itself, with a fake connection -------------------------------------------------


class FakeConnection:
    """Runs statements by failing them as told; counts the rows of each."""

    def __init__(self, error: sqlite3.Error | None) -> None:
        self.error = error
        self.rows_per_statement: list[int] = []

    async def run(self, sql: str, params: Sequence[SqlValue]) -> object:
        await asyncio.sleep(0)
        self.rows_per_statement.append(len(params))
        if self.error is not None:
            raise StorageError(f"test.db: {self.error}") from self.error
        return []


async def _insert_together(group: GroupCommit, count: int) -> list[BaseException | None]:
    lock = group._lock
    async with lock:  # the rows queue while the "connection" is busy
        tasks = [asyncio.create_task(group.insert("t", ["n"], [n])) for n in range(count)]
        await asyncio.sleep(0)
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_an_error_of_the_whole_database_is_not_retried_row_by_row() -> None:
    """Busy for 5 s: retrying each of 20 rows would wait 20 x 5 s. All fail at once."""
    fake = FakeConnection(sqlite3.OperationalError("database is locked"))
    group = GroupCommit("test.db", asyncio.Lock(), fake.run, lambda: None)
    results = await _insert_together(group, 20)
    assert fake.rows_per_statement == [20]
    assert all(isinstance(r, StorageError) and "locked" in str(r) for r in results)
    assert len({id(r) for r in results}) == 20  # one exception object per caller


async def test_an_error_that_may_be_one_rows_is_retried_row_by_row() -> None:
    """A constraint failing the shared statement: each row is tried alone."""
    fake = FakeConnection(sqlite3.IntegrityError("CHECK constraint failed"))
    group = GroupCommit("test.db", asyncio.Lock(), fake.run, lambda: None)
    results = await _insert_together(group, 5)
    assert fake.rows_per_statement == [5, 1, 1, 1, 1, 1]
    assert all(isinstance(r, StorageError) for r in results)


async def test_rows_are_split_into_statements_of_at_most_max_rows() -> None:
    fake = FakeConnection(None)
    group = GroupCommit("test.db", asyncio.Lock(), fake.run, lambda: None, max_rows=4)
    assert await _insert_together(group, 10) == [None] * 10
    assert fake.rows_per_statement == [4, 4, 2]
