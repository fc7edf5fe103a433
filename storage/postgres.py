"""The PostgreSQL :class:`~storage.database.Database`, over an asyncpg pool.

For an operator who outgrew one process with an SQLite file: ``SHOWRUNNER_DATABASE_URL=
postgresql://user:password@host/db``. The stores, their SQL and the migrations are SQLite's,
spelt for PostgreSQL by ``storage/_dialect.py``. Why the shape:

- **A pool, not one connection.** Reads and checkpoint saves run in parallel on their own
  connections; the server, not a lock in this process, keeps them apart.
- **Write transactions are serialized across every process, as SQLite's are.** Each
  :meth:`PostgresDatabase.transaction` takes one transaction-scoped advisory lock first
  (``pg_advisory_xact_lock``), then runs at READ COMMITTED: every statement after the lock sees
  all that the previous writer committed. So the stores' count-then-insert limits (episodes per
  writer, budgets, a room's cast) and their compare-and-set transitions hold between processes
  exactly as they do on SQLite, with no serialization failure to retry half-way through a
  store's method (SERIALIZABLE would need the whole block re-run, which an ``async with`` cannot
  do). Writes are short (a few statements); the lock is released at COMMIT or ROLLBACK, also
  when a connection dies. Partial UNIQUE indexes (one rewrite per scene) and ``ON CONFLICT``
  hold as a second line.
- **Checkpoint saves skip that lock.** A save is one statement (a data-modifying CTE writes the
  ledger row and the step together), atomic on its own and checked by nothing else, so saves of
  many episodes commit side by side on the pool; PostgreSQL groups their WAL flushes itself.
- **Migrations** run in the same serialized transactions, so two processes starting at once
  apply each migration once: the second finds it recorded, inside the lock.
- **Rows** are ``asyncpg.Record`` (by name and by position, like ``sqlite3.Row``); ``numeric``
  (PostgreSQL's type of ``sum(bigint)``) comes back as ``int`` or ``float``, as on SQLite.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from storage._dialect import to_postgres
from storage._group import GroupCommit
from storage._time import Clock, utc_now
from storage.database import Database, Dialect, Params, Row, SqlValue, Transaction
from storage.errors import StorageError
from storage.migrations import (
    STEP_SAVE_COLUMNS,
    STEP_SAVE_TYPES_POSTGRES,
    STEP_SAVES,
    STEP_SAVES_POSTGRES,
    migrate,
)

__all__ = ["WRITE_LOCK", "PostgresDatabase", "PostgresTransaction", "safe_label"]

log = logging.getLogger(__name__)

WRITE_LOCK: Final = 0x53484F57
"""The advisory lock key every write transaction holds ("SHOW", the SQLite application_id)."""

_DRIVER_ERRORS: Final = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
"""The server's errors, the driver's (a connection lost, a value of the wrong type), the
network's: each becomes a one-line StorageError."""

POOL_SIZE: Final = 10
"""Connections per process: reads and saves in parallel, far below a server's default 100."""


def safe_label(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "postgresql://(unparsable URL)"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, "", ""))


def describe(label: str, err: BaseException) -> str:
    """One line for an operator: which database, what is wrong, what to do."""
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(
        err, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError
    ):
        return f"{label}: PostgreSQL refused the login ({text}): check the user and password"
    if isinstance(err, asyncpg.InvalidCatalogNameError):
        return f"{label}: {text}: create the database first (createdb), or fix the URL"
    if isinstance(err, OSError | TimeoutError):
        return (
            f"cannot reach PostgreSQL at {label} ({text}): start the server, or fix "
            "SHOWRUNNER_DATABASE_URL"
        )
    if isinstance(err, asyncpg.InsufficientPrivilegeError):
        return f"{label}: {text}: grant this user the rights on its database, or use its owner"
    return f"{label}: {text}"


def _number(text: str) -> int | float:
    """``numeric`` as SQLite gives the same sum: ``int`` when whole, else ``float``."""
    return int(text) if text.lstrip("-").isdigit() else float(text)


async def _configure(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "numeric", encoder=str, decoder=_number, schema="pg_catalog", format="text"
    )


def _values(label: str, params: Params) -> Sequence[SqlValue]:
    if isinstance(params, Mapping):
        raise TypeError(f"{label}: named parameters are SQLite-only; pass a sequence")
    return params


def _rowcount(status: str) -> int:
    """``"UPDATE 3"`` → 3; statements without a count (DDL) → 0."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresDatabase(Database):
    """An open Showrunner database on a PostgreSQL server: ``await PostgresDatabase.open(url)``
    (``Database.open`` chooses it for a ``postgresql://`` URL)."""

    def __init__(self, pool: asyncpg.Pool, label: str, clock: Clock) -> None:
        """Use :meth:`open`: it creates the pool and applies the migrations."""
        self._pool = pool
        self._label = label
        self._clock = clock
        self._owners: set[asyncio.Task[object]] = set()
        self._closed = False
        # Its own lock: one grouped statement in flight, the next one gathering rows meanwhile.
        self._group = GroupCommit(
            label, asyncio.Lock(), self._run_grouped, _nothing, statement=_grouped_statement
        )

    @classmethod
    async def open(
        cls, target: str | Path, *, clock: Clock = utc_now, pool_size: int = POOL_SIZE
    ) -> PostgresDatabase:
        """Connect to the URL ``target`` and bring its schema up to date (under the write
        lock)."""
        url = str(target)
        label = safe_label(url)
        try:
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=pool_size, init=_configure, timeout=10
            )
        except (TimeoutError, asyncpg.PostgresError, OSError) as err:
            raise StorageError(describe(label, err)) from None
        except (ValueError, asyncpg.InterfaceError) as err:
            raise StorageError(
                f"{label}: not a usable PostgreSQL URL ({err}): write it as "
                "postgresql://user:password@host:5432/database"
            ) from None
        db = cls(pool, label, clock)
        try:
            await migrate(db)
        except StorageError as err:
            await db.close()
            raise StorageError(str(err)) from None
        except BaseException:
            await db.close()
            raise
        return db

    @property
    def dialect(self) -> Dialect:
        return "postgresql"

    async def close(self) -> None:
        """Wait for the connections in use to be released, then close them all."""
        if self._closed:
            return
        self._refuse_reentry("close the database")
        await self._group.drain()
        self._closed = True
        try:
            await self._pool.close()
        except _DRIVER_ERRORS as err:
            log.warning("%s: error while closing: %s", self._label, err)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One write transaction, serialized with every other one (see the module docstring)."""
        self._refuse_reentry("start a transaction")
        self._check_open()
        task = asyncio.current_task()
        try:
            async with self._pool.acquire() as connection:
                tx = PostgresTransaction(self, connection)
                if task is not None:
                    self._owners.add(task)
                try:
                    async with connection.transaction(isolation="read_committed"):
                        await connection.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
                        yield tx
                finally:
                    tx._active = False
                    if task is not None:
                        self._owners.discard(task)
        except _DRIVER_ERRORS as err:
            # A COMMIT that failed, or a connection lost: the statements' own errors are
            # StorageErrors already.
            raise StorageError(describe(self._label, err)) from err

    async def insert_grouped(
        self, table: str, columns: Sequence[str], row: Sequence[SqlValue]
    ) -> None:
        """Insert one row, committed before returning: grouped with the rows other tasks insert
        meanwhile, as on SQLite (``storage/_group.py``), in one statement and one commit."""
        self._refuse_reentry("insert through the database")
        self._check_open()
        await self._group.insert(table, columns, row)

    async def _run_grouped(self, sql: str, params: Sequence[SqlValue]) -> None:
        try:
            async with self._pool.acquire() as connection:
                await connection.execute(sql, *params)
        except _DRIVER_ERRORS as err:
            raise StorageError(describe(self._label, err)) from err

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        self._refuse_reentry("read through the database")
        self._check_open()
        try:
            async with self._pool.acquire() as connection:
                return list(await connection.fetch(to_postgres(sql), *_values(self._label, params)))
        except _DRIVER_ERRORS as err:
            raise StorageError(describe(self._label, err)) from err

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"{self._label}: the database is closed (the bot is shutting down?)")

    def _refuse_reentry(self, action: str) -> None:
        # A second connection would not see this transaction's rows, and would wait for its lock.
        task = asyncio.current_task()
        if task is not None and task in self._owners:
            raise RuntimeError(
                f"cannot {action} inside db.transaction(): use the transaction's own methods"
            )


_STEP_SAVES_HEAD: Final = f"INSERT INTO {STEP_SAVES} ({', '.join(STEP_SAVE_COLUMNS)}) VALUES "


def _grouped_statement(head: str, width: int, count: int) -> str:
    """``count`` rows of ``width`` values after ``head``, numbered ``$1``...; checkpoint saves
    (the head of :data:`~storage.migrations.STEP_SAVES`) as their own statement."""
    types = STEP_SAVE_TYPES_POSTGRES if head == _STEP_SAVES_HEAD else ("",) * width
    rows = ", ".join(
        "("
        + ", ".join(f"${r * width + c + 1}{'::' + t if t else ''}" for c, t in enumerate(types))
        + ")"
        for r in range(count)
    )
    if head == _STEP_SAVES_HEAD:
        return STEP_SAVES_POSTGRES.format(rows=rows)
    return head + rows


def _nothing() -> None:
    """After a grouped statement: nothing to do (no WAL of ours to checkpoint)."""


class PostgresTransaction(Transaction):
    """The statements of one :meth:`PostgresDatabase.transaction` block, on its connection."""

    __slots__ = ("_connection",)

    _db: PostgresDatabase

    def __init__(
        self, db: PostgresDatabase, connection: PoolConnectionProxy[asyncpg.Record]
    ) -> None:
        super().__init__(db)
        self._connection = connection

    async def execute(self, sql: str, params: Params = ()) -> int:
        self._check()
        label = self._db.label
        try:
            status = await self._connection.execute(to_postgres(sql), *_values(label, params))
        except _DRIVER_ERRORS as err:
            raise StorageError(describe(label, err)) from err
        return _rowcount(status)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        self._check()
        label = self._db.label
        try:
            return list(await self._connection.fetch(to_postgres(sql), *_values(label, params)))
        except _DRIVER_ERRORS as err:
            raise StorageError(describe(label, err)) from err
