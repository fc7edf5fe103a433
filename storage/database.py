"""What the stores see of a database, whichever engine holds it.

Showrunner keeps its data in one SQLite file by default (:class:`~storage.sqlite.SqliteDatabase`:
two commands, no server). An operator who outgrows one process sets
``SHOWRUNNER_DATABASE_URL=postgresql://...`` and gets :class:`~storage.postgres.PostgresDatabase`
instead: same stores, same migrations, same SQL (``storage/_dialect.py`` spells it for
PostgreSQL). :meth:`Database.open` chooses by what it is given.

The contract both keep:

- **Transactions are whole.** ``async with db.transaction() as tx`` commits at the end of the
  block and rolls back on any exception, cancellation included. Write transactions are
  serialized, as SQLite's ``BEGIN IMMEDIATE`` serializes them: a count-then-insert limit or a
  compare-and-set holds against another task, and against another process.
- **Rows read the same way.** A :class:`Row` is read by column name (``row["status"]``) or by
  position (``row[0]``); timestamps are fixed-width UTC text, JSON is text, booleans are 0/1, and
  numbers come back as ``int`` or ``float`` on both engines.
- **Errors are one line**: a :class:`~storage.errors.StorageError` naming the database, with the
  driver's exception on ``__cause__``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

from storage._time import Clock, utc_now

__all__ = ["Database", "Dialect", "Params", "Row", "SqlValue", "Transaction", "is_postgres_url"]

SqlValue = int | float | str | bytes | None
Params = Sequence[SqlValue] | Mapping[str, SqlValue]
Dialect = Literal["sqlite", "postgresql"]


class Row(Protocol):
    """A result row: ``sqlite3.Row`` on SQLite, ``asyncpg.Record`` on PostgreSQL."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


def is_postgres_url(target: str | Path) -> bool:
    """True for ``postgresql://...`` (or ``postgres://...``): anything else is a file path."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


class Database(abc.ABC):
    """An open Showrunner database: ``db = await Database.open(path_or_url)``, or ``async with``.

    Stores (:class:`~storage.episodes.EpisodeStore`, ...) take a ``Database`` and use only
    :meth:`transaction`, :meth:`insert_grouped`, :meth:`fetchall` and :meth:`fetchone`.
    """

    _label: str
    _clock: Clock

    @classmethod
    async def open(cls, target: str | Path, *, clock: Clock = utc_now) -> Database:
        """Open the database ``target`` names and bring its schema up to date.

        A ``postgresql://`` URL opens PostgreSQL; anything else is an SQLite file path
        (created if needed; ``":memory:"`` for a private in-memory one). Raises
        :class:`~storage.errors.StorageError` if it cannot be used.
        """
        if is_postgres_url(target):
            from storage.postgres import PostgresDatabase

            return await PostgresDatabase.open(str(target), clock=clock)
        from storage.sqlite import SqliteDatabase

        return await SqliteDatabase.open(target, clock=clock)

    @property
    @abc.abstractmethod
    def dialect(self) -> Dialect:
        """Which engine: migrations write the few statements that differ per dialect."""

    @property
    def label(self) -> str:
        """The database's path (or its URL without the password), for messages."""
        return self._label

    def now(self) -> datetime:
        """The current instant from the injected clock; stores stamp rows with it."""
        return self._clock()

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """``async with db.transaction() as tx:`` one serialized write transaction."""

    @abc.abstractmethod
    async def insert_grouped(
        self, table: str, columns: Sequence[str], row: Sequence[SqlValue]
    ) -> None:
        """Insert one row into ``table``, in a transaction of its own; returns once committed."""

    @abc.abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a read outside any transaction; it sees only committed data."""

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish what is queued and close; closing twice is fine."""

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class Transaction(abc.ABC):
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

    @abc.abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""

    @abc.abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one statement (a SELECT, or a write with ``RETURNING``) and return its rows."""

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    def _check(self) -> None:
        if not self._active:
            raise RuntimeError("this transaction has ended; start a new db.transaction()")
