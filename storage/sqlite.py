"""The SQLite :class:`~storage.database.Database`: one file, one connection, and transactions
that stay whole under asyncio. It is the default: two commands, no server.

Why the shape:

- **One aiosqlite connection per process for every statement.** aiosqlite runs them on one
  worker thread, in order, so the event loop never blocks on disk and writes never contend
  inside the process. (A second connection, on its own thread, only runs WAL checkpoints.) Other
  processes (a second shard, the ``sqlite3`` shell) share the file through WAL and
  ``busy_timeout``.
- **A lock around every use of the connection.** A connection has one transaction at a time. If
  task A is between ``BEGIN`` and ``COMMIT`` and task B's statement runs on the same connection,
  B's write joins A's transaction (and is rolled back with it), and B's read sees A's uncommitted
  rows. The lock makes each transaction, and each read, a unit.
- **Transactions survive cancellation.** A writer's Cancel button cancels the generation task,
  possibly in the middle of a checkpoint save. Whatever the block was waiting for, a ``ROLLBACK``
  is queued before the lock is released; aiosqlite runs its queue in order on one thread, so the
  abandoned statement finishes first and the rollback ends the transaction before the next task's
  ``BEGIN`` (a ``ROLLBACK`` after a ``COMMIT`` that already ran does nothing). The connection is
  never left inside a half-finished transaction that would swallow the next task's writes.
- **Checkpoint saves are grouped.** :meth:`Database.insert_grouped` queues a row; rows queued
  while the connection is busy are written together, in one statement that is its own
  transaction (``storage/_group.py``). Each caller still returns only once its row is committed.
- **WAL checkpoints stay off the writers' path.** The automatic checkpoint, which would run
  inside some unlucky COMMIT, is off; the second connection checkpoints instead
  (``storage/_wal.py``), and a TRUNCATE checkpoint at close leaves the WAL empty.
- **Nothing is written to a file before it is known to be ours and whole.** Opening reads the
  file first: another application's database, or a damaged one (``PRAGMA quick_check``), is
  refused before ``journal_mode = WAL`` or a migration could change a byte of it.
- **Errors are one line.** A bad path, a damaged file or a lock becomes a :class:`StorageError`
  that names the file and says what to do; the ``sqlite3`` exception stays on ``__cause__`` for
  the log.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import aiosqlite

from storage._files import BUSY_TIMEOUT_MS, describe, prepare_location
from storage._group import GroupCommit
from storage._time import Clock, utc_now
from storage._wal import WalCheckpointer
from storage.database import Database, Dialect, Params, Row, SqlValue, Transaction
from storage.errors import StorageError

__all__ = ["MIN_SQLITE_VERSION", "SqliteDatabase", "SqliteTransaction"]

log = logging.getLogger(__name__)

MIN_SQLITE_VERSION: Final = (3, 37, 0)
"""STRICT tables (3.37) and ``RETURNING`` (3.35) are used by the schema and the stores."""


class SqliteDatabase(Database):
    """An open Showrunner database in an SQLite file: ``await SqliteDatabase.open(path)``
    (``Database.open`` chooses it for a path)."""

    def __init__(self, connection: aiosqlite.Connection, label: str, clock: Clock) -> None:
        """Use :meth:`open`: it configures the connection and applies the migrations."""
        self._conn = connection
        self._label = label
        self._clock = clock
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None
        self._closed = False
        self._group = GroupCommit(label, self._lock, self._fetchall, self._committed)
        self._wal: WalCheckpointer | None = None

    # -- opening and closing ----------------------------------------------------------------

    @classmethod
    async def open(cls, path: str | Path, *, clock: Clock = utc_now) -> SqliteDatabase:
        """Open (creating if needed) the database at ``path`` and bring its schema up to date.

        ``":memory:"`` gives a private in-memory database, for quick tests. Missing parent
        directories are created. Raises :class:`StorageError` if the file cannot be used.
        """
        # Migrations import this module for types.
        from storage.migrations import create_temp_schema, migrate, refuse_foreign

        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            wanted = ".".join(map(str, MIN_SQLITE_VERSION))
            raise StorageError(
                f"Showrunner needs SQLite {wanted} or newer, but this Python links SQLite "
                f"{sqlite3.sqlite_version}: run the Docker image or a newer Python build"
            )
        # Off the event loop: on a slow volume even mkdir must not stall the gateway heartbeat.
        location = await asyncio.to_thread(prepare_location, path)
        try:
            connection = await aiosqlite.connect(location, isolation_level=None)
        except sqlite3.Error as err:
            raise StorageError(describe(location, err)) from None
        connection.row_factory = sqlite3.Row
        db = cls(connection, location, clock)
        try:
            await db._fetchall(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # Reads only, before anything could write: a non-database fails here, and another
            # application's file or a damaged one is refused exactly as it was.
            await refuse_foreign(db)
            await db._quick_check()
            wal = await db._configure()
            await migrate(db)
            await db._check_writable()
            await create_temp_schema(db)
            if wal:
                db._wal = await WalCheckpointer.open(location, location, db._lock)
        except sqlite3.Error as err:
            await db.close()
            raise StorageError(describe(location, err)) from None
        except StorageError as err:
            await db.close()
            # Opening is where operators meet these: one line, without the sqlite3 chain.
            raise StorageError(str(err)) from None
        except BaseException:
            await db.close()
            raise
        return db

    async def _quick_check(self) -> None:
        """Refuse a damaged file at start-up, not at the first step that reads a damaged page.

        ``quick_check`` reads every page (about 4 ms per MB of a cached file) but skips the
        slower index-content comparisons of ``integrity_check``.
        """
        rows = await self._fetchall("PRAGMA quick_check")
        problems = [str(row[0]) for row in rows if str(row[0]) != "ok"]
        if problems:
            first = " ".join(problems[0].split())
            raise StorageError(
                describe(
                    self._label,
                    sqlite3.DatabaseError(
                        f"database disk image is malformed: {len(problems)} problem(s) found by "
                        f"PRAGMA quick_check, first: {first}"
                    ),
                )
            )

    async def _configure(self) -> bool:
        """Set the connection up; True if the file is in WAL mode (checkpoints are then ours)."""
        memory = self._label == ":memory:"
        rows = await self._fetchall("PRAGMA journal_mode = WAL")
        mode = str(rows[0][0]).lower()
        if mode != "wal" and not memory:
            log.warning(
                "%s: journal_mode is %r, not 'wal' (a network file system?): readers will "
                "block writers; keep the database on a local disk",
                self._label,
                mode,
            )
        await self._fetchall("PRAGMA foreign_keys = ON")
        await self._fetchall("PRAGMA synchronous = NORMAL")
        rows = await self._fetchall("PRAGMA foreign_keys")
        if not rows or rows[0][0] != 1:
            raise StorageError(
                f"{self._label}: this SQLite build cannot enforce foreign keys; "
                "use a standard Python build"
            )
        if mode != "wal":
            return False
        # No checkpoint inside a COMMIT: the WalCheckpointer's own connection does them.
        await self._fetchall("PRAGMA wal_autocheckpoint = 0")
        return True

    async def _check_writable(self) -> None:
        """Fail at start-up, not at the first checkpoint, if the file is read-only.

        An up-to-date database is opened without writing anything, and a read-only file opens
        fine for reading: so attempt a write (``user_version``, which Showrunner does not use)
        and roll it back.
        """
        async with self._lock:
            await self._fetchall("BEGIN IMMEDIATE")
            try:
                rows = await self._fetchall("PRAGMA user_version")
                await self._execute(f"PRAGMA user_version = {int(rows[0][0])}")
            finally:
                await self._end("ROLLBACK")

    async def close(self) -> None:
        """Write the grouped rows queued, wait for the transaction in progress, if any, then
        checkpoint the WAL whole and close. Closing twice is fine."""
        if self._closed:
            return
        self._refuse_reentry("close the database")
        await self._group.drain()
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._wal is not None:
                    await self._wal.close()
            finally:
                try:
                    await self._conn.close()
                except sqlite3.Error as err:
                    log.warning("%s: error while closing: %s", self._label, err)

    # -- what stores use -------------------------------------------------------------------

    @property
    def dialect(self) -> Dialect:
        return "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """``async with db.transaction() as tx:`` runs ``BEGIN IMMEDIATE`` … ``COMMIT``.

        IMMEDIATE takes SQLite's write lock at the start, so a second process that also wants to
        write waits (``busy_timeout``) at ``BEGIN`` instead of failing half-way with a busy
        error it cannot retry. An exception, including cancellation, rolls everything back.
        Statements inside the block go through ``tx``, not through the database.
        """
        self._refuse_reentry("start a transaction")
        async with self._lock:
            self._check_open()
            tx = SqliteTransaction(self)
            self._owner = asyncio.current_task()
            try:
                await self._fetchall("BEGIN IMMEDIATE")
                yield tx
                await self._end("COMMIT")
                self._committed()
            except BaseException:
                await self._rollback_quietly()
                raise
            finally:
                tx._active = False
                self._owner = None

    async def insert_grouped(
        self, table: str, columns: Sequence[str], row: Sequence[SqlValue]
    ) -> None:
        """Insert one row into ``table``; returns once it is committed (group commit).

        Rows that other tasks insert into the same table while the connection is busy share
        ONE statement, which is its own transaction: 50 episodes saving at once pay for one
        statement and one commit, not 50 of each queued behind one another. A row that fails
        (a constraint) fails only its own caller. ``table`` and ``columns`` come from code,
        never from input. Statements of several tables are not atomic together: a step and its
        ledger row go in together through one view (see ``TEMP_SCHEMA`` in migrations).
        """
        self._refuse_reentry("insert through the database")
        self._check_open()
        await self._group.insert(table, columns, row)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a read outside any transaction; it sees only committed data."""
        self._refuse_reentry("read through the database")
        async with self._lock:
            return await self._fetchall(sql, params)

    # -- internals -------------------------------------------------------------------------

    def _committed(self) -> None:
        if self._wal is not None:
            self._wal.committed()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"{self._label}: the database is closed (the bot is shutting down?)")

    def _refuse_reentry(self, action: str) -> None:
        # The lock is not re-entrant: the task inside a transaction would wait for itself.
        if self._owner is not None and self._owner is asyncio.current_task():
            raise RuntimeError(
                f"cannot {action} inside db.transaction(): use the transaction's own methods"
            )

    async def _fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        self._check_open()
        try:
            return list(await self._conn.execute_fetchall(sql, params))
        except sqlite3.Error as err:
            raise StorageError(describe(self._label, err)) from err

    async def _execute(self, sql: str, params: Params = ()) -> int:
        self._check_open()
        try:
            async with self._conn.execute(sql, params) as cursor:
                return cursor.rowcount
        except sqlite3.Error as err:
            raise StorageError(describe(self._label, err)) from err

    async def _end(self, verb: str) -> None:
        # sqlite3's commit()/rollback() check, on the worker thread, whether a transaction is
        # open: a ROLLBACK after a COMMIT that already ran is a no-op, not an error.
        self._check_open()
        try:
            if verb == "COMMIT":
                await self._conn.commit()
            else:
                await self._conn.rollback()
        except sqlite3.Error as err:
            raise StorageError(describe(self._label, err)) from err

    async def _rollback_quietly(self) -> None:
        """Roll back without hiding the exception that caused it."""
        if self._closed:
            return
        try:
            await self._end("ROLLBACK")
        except StorageError as err:
            log.error("%s: rollback failed: %s", self._label, err)


class SqliteTransaction(Transaction):
    """The statements of one :meth:`SqliteDatabase.transaction` block."""

    __slots__ = ()

    _db: SqliteDatabase

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        self._check()
        return await self._db._execute(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one statement (a SELECT, or a write with ``RETURNING``) and return its rows."""
        self._check()
        return await self._db._fetchall(sql, params)
