"""One SQLite file, one connection, and transactions that stay whole under asyncio.

Why the shape:

- **One aiosqlite connection per process.** aiosqlite runs every statement on one worker
  thread, in order, so the event loop never blocks on disk and writes never contend inside the
  process. Other processes (a second shard, the ``sqlite3`` shell) share the file through WAL and
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
- **Errors are one line.** A bad path, a damaged file or a lock becomes a :class:`StorageError`
  that names the file and says what to do; the ``sqlite3`` exception stays on ``__cause__`` for
  the log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Final

import aiosqlite

from storage._time import Clock, utc_now
from storage.errors import StorageError

__all__ = ["MIN_SQLITE_VERSION", "Database", "Params", "SqlValue", "Transaction"]

log = logging.getLogger(__name__)

SqlValue = int | float | str | bytes | None
Params = Sequence[SqlValue] | Mapping[str, SqlValue]

MIN_SQLITE_VERSION: Final = (3, 37, 0)
"""STRICT tables (3.37) and ``RETURNING`` (3.35) are used by the schema and the stores."""

BUSY_TIMEOUT_MS: Final = 5000


class Database:
    """An open Showrunner database: ``db = await Database.open(path)``, or ``async with``.

    Stores (:class:`~storage.episodes.EpisodeStore`, ...) take a ``Database`` and use only
    :meth:`transaction`, :meth:`fetchall` and :meth:`fetchone`.
    """

    def __init__(self, connection: aiosqlite.Connection, label: str, clock: Clock) -> None:
        """Use :meth:`open`: it configures the connection and applies the migrations."""
        self._conn = connection
        self._label = label
        self._clock = clock
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None
        self._closed = False

    # -- opening and closing ----------------------------------------------------------------

    @classmethod
    async def open(cls, path: str | Path, *, clock: Clock = utc_now) -> Database:
        """Open (creating if needed) the database at ``path`` and bring its schema up to date.

        ``":memory:"`` gives a private in-memory database, for quick tests. Missing parent
        directories are created. Raises :class:`StorageError` if the file cannot be used.
        """
        from storage.migrations import migrate  # migrations import this module for types

        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            wanted = ".".join(map(str, MIN_SQLITE_VERSION))
            raise StorageError(
                f"Showrunner needs SQLite {wanted} or newer, but this Python links SQLite "
                f"{sqlite3.sqlite_version}: run the Docker image or a newer Python build"
            )
        # Off the event loop: on a slow volume even mkdir must not stall the gateway heartbeat.
        location = await asyncio.to_thread(_prepare_location, path)
        try:
            connection = await aiosqlite.connect(location, isolation_level=None)
        except sqlite3.Error as err:
            raise StorageError(_describe(location, err)) from None
        connection.row_factory = sqlite3.Row
        db = cls(connection, location, clock)
        try:
            await db._configure()
            await migrate(db)
            await db._check_writable()
        except sqlite3.Error as err:
            await db.close()
            raise StorageError(_describe(location, err)) from None
        except StorageError as err:
            await db.close()
            # Opening is where operators meet these: one line, without the sqlite3 chain.
            raise StorageError(str(err)) from None
        except BaseException:
            await db.close()
            raise
        return db

    async def _configure(self) -> None:
        memory = self._label == ":memory:"
        await self._fetchall(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # The first statement that reads the file: a non-database fails here.
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

    async def _check_writable(self) -> None:
        """Fail at start-up, not at the first checkpoint, if the file is read-only.

        An up-to-date database is opened without writing anything, and a read-only file opens
        fine for reading: so attempt a write (``user_version``, which Showrunner does not use)
        and roll it back.
        """
        async with self._lock:
            await self._execute("BEGIN IMMEDIATE")
            try:
                rows = await self._fetchall("PRAGMA user_version")
                await self._execute(f"PRAGMA user_version = {int(rows[0][0])}")
            finally:
                await self._end("ROLLBACK")

    async def close(self) -> None:
        """Wait for the transaction in progress, if any, then close. Closing twice is fine."""
        if self._closed:
            return
        self._refuse_reentry("close the database")
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                await self._conn.close()
            except sqlite3.Error as err:
                log.warning("%s: error while closing: %s", self._label, err)

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- what stores use -------------------------------------------------------------------

    @property
    def label(self) -> str:
        """The database's path as given to :meth:`open` (or ``:memory:``), for messages."""
        return self._label

    def now(self) -> datetime:
        """The current instant from the injected clock; stores stamp rows with it."""
        return self._clock()

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
            tx = Transaction(self)
            self._owner = asyncio.current_task()
            try:
                await self._execute("BEGIN IMMEDIATE")
                yield tx
                await self._end("COMMIT")
            except BaseException:
                await self._rollback_quietly()
                raise
            finally:
                tx._active = False
                self._owner = None

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run a read outside any transaction; it sees only committed data."""
        self._refuse_reentry("read through the database")
        async with self._lock:
            return await self._fetchall(sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    # -- internals -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"{self._label}: the database is closed (the bot is shutting down?)")

    def _refuse_reentry(self, action: str) -> None:
        # The lock is not re-entrant: the task inside a transaction would wait for itself.
        if self._owner is not None and self._owner is asyncio.current_task():
            raise RuntimeError(
                f"cannot {action} inside db.transaction(): use the transaction's own methods"
            )

    async def _fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        self._check_open()
        try:
            return list(await self._conn.execute_fetchall(sql, params))
        except sqlite3.Error as err:
            raise StorageError(_describe(self._label, err)) from err

    async def _execute(self, sql: str, params: Params = ()) -> int:
        self._check_open()
        try:
            async with self._conn.execute(sql, params) as cursor:
                return cursor.rowcount
        except sqlite3.Error as err:
            raise StorageError(_describe(self._label, err)) from err

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
            raise StorageError(_describe(self._label, err)) from err

    async def _rollback_quietly(self) -> None:
        """Roll back without hiding the exception that caused it."""
        if self._closed:
            return
        try:
            await self._end("ROLLBACK")
        except StorageError as err:
            log.error("%s: rollback failed: %s", self._label, err)


class Transaction:
    """The statements of one :meth:`Database.transaction` block; unusable after it ends."""

    __slots__ = ("_active", "_db")

    def __init__(self, db: Database) -> None:
        self._db = db
        self._active = True

    @property
    def db(self) -> Database:
        return self._db

    def now(self) -> datetime:
        return self._db.now()

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        self._check()
        return await self._db._execute(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run one statement (a SELECT, or a write with ``RETURNING``) and return its rows."""
        self._check()
        return await self._db._fetchall(sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    def _check(self) -> None:
        if not self._active:
            raise RuntimeError("this transaction has ended; start a new db.transaction()")


def _prepare_location(path: str | Path) -> str:
    """Check the path and create its directory; return what sqlite3 should open."""
    if str(path) == ":memory:":
        return ":memory:"
    target = Path(path).expanduser()
    if target.is_dir():
        raise StorageError(
            f"{target} is a directory: give the database a file name, "
            f"e.g. {target / 'showrunner.db'}"
        )
    if target.exists() and not target.is_file():
        raise StorageError(f"{target} is not a regular file: choose another database path")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        where = err.filename or target.parent
        raise StorageError(
            f"cannot create the directory for the database {target} ({reason}: {where}): "
            "choose a path in a writable directory"
        ) from None
    # Open it ourselves first: a permission problem becomes a plain OSError here, rather than a
    # failure inside aiosqlite's connect, whose worker thread can outlive the event loop and
    # print a thread traceback after our one-line error when the process exits.
    try:
        fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise StorageError(
            f"cannot open {target} for writing ({err.strerror or type(err).__name__}): make the "
            "file and its directory writable by this user, or choose another path"
        ) from None
    os.close(fd)
    return str(target)


def _describe(label: str, err: sqlite3.Error) -> str:
    """One line for an operator: which file, what is wrong, what to do."""
    text = " ".join(str(err).split())
    low = text.lower()
    if "not a database" in low or "malformed" in low:
        return (
            f"{label} is not a usable Showrunner database (damaged, or not an SQLite file: "
            f"{text}): restore it from a backup, or move it aside to start an empty one"
        )
    if "unable to open" in low or "readonly" in low or "read-only" in low:
        return (
            f"cannot open {label} for writing ({text}): make the file and its directory "
            "writable by this user, or choose another path"
        )
    if "locked" in low or "busy" in low:
        return (
            f"{label} stayed locked by another connection for {BUSY_TIMEOUT_MS // 1000} s "
            f"({text}): stop the other program writing to it, or retry"
        )
    if "full" in low:
        return f"{label}: the disk is full ({text}): free some space"
    if "disk i/o" in low:
        return f"{label}: disk I/O error ({text}): check the disk or volume it lives on"
    return f"{label}: {text}"
