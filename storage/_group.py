"""Group commit: rows that tasks submit while the database is busy are written together.

Fifty episodes finishing steps at once would otherwise queue for the connection one save after
another, each paying its own statement and commit. Here each row is queued with a future, and one
flusher task writes everything queued, as ONE multi-row ``INSERT`` per table, in autocommit: one
statement is one transaction and one round trip to the connection's worker thread, whatever the
number of rows. Rows submitted while that statement runs form the next one. Each caller's await
returns once the statement holding ITS row has committed: the durability of a lone save.

- **One bad row does not fail the others.** If a multi-row statement fails for a reason that can
  belong to one row (a constraint, a value SQLite refuses), nothing of it was written, and its
  rows are written again one statement each: each caller gets its own outcome. Errors of the
  database as a whole (busy, locked, disk full, I/O) fail the batch at once: row by row would
  only meet them again, once per row.
- **Nothing to wait for, no detour.** A row submitted while the connection is idle and nothing
  is queued is written at once from its caller's task (a statement of one row); rows arriving
  meanwhile queue for the flusher, which takes them all once that statement is done.
- **Cancellation.** A caller cancelled before its row is written withdraws it; one cancelled
  while its statement runs cannot stop it (the row may land, as a lone save cancelled during its
  COMMIT may): aiosqlite finishes the statement before any later one, and a statement in
  autocommit never leaves a transaction open. The flusher is its own task, so no caller's
  cancellation touches anyone else's row.
- **The connection lock.** The flusher takes the same lock as ``Database.transaction``, so a
  statement never runs inside another task's transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from storage.errors import StorageError

if TYPE_CHECKING:
    from storage.database import SqlValue

    Run = Callable[[str, Sequence[SqlValue]], Awaitable[object]]
    Statement = Callable[[str, int, int], str]

__all__ = ["MAX_ROWS", "GroupCommit", "Pending"]

MAX_ROWS: Final = 256
"""Rows per statement at most (and at most 32,766 parameters, SQLite's limit since 3.32)."""
_MAX_PARAMETERS: Final = 32766


@dataclass(eq=False, slots=True)
class Pending:
    """One submitted row and the future its caller awaits."""

    head: str
    """``INSERT INTO table (columns) VALUES ``: rows with the same head share statements."""
    row: tuple[SqlValue, ...]
    done: asyncio.Future[None]


class GroupCommit:
    """Queues rows and writes them in shared statements; see the module's docstring."""

    def __init__(
        self,
        label: str,
        lock: asyncio.Lock,
        run: Run,
        committed: Callable[[], None],
        max_rows: int = MAX_ROWS,
        statement: Statement | None = None,
    ) -> None:
        """``run(sql, params)`` executes one statement on the connection (lock held by us);
        ``committed()`` is called after each statement that committed. ``max_rows=1`` turns
        grouping off (the bench measures what it is worth). ``statement(head, width, count)``
        writes the statement of ``count`` rows of ``width`` values when ``head`` followed by
        ``(?, ...)`` per row is not it (PostgreSQL's checkpoint saves)."""
        self.max_rows = max_rows
        self._statement = statement or _values_statement
        self._label = label
        self._lock = lock
        self._run = run
        self._committed = committed
        self._queue: list[Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False

    async def insert(self, table: str, columns: Sequence[str], row: Sequence[SqlValue]) -> None:
        """Insert ``row`` into ``table``; returns once it is committed."""
        if self._closed:
            raise StorageError(f"{self._label}: the database is closed (the bot is shutting down?)")
        pending = self._pending(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ", tuple(row))
        if self._queue or self._lock.locked() or self._flushing():
            self._enqueue(pending)
            await pending.done
            return
        # Nothing to group with: written from this task, sparing the hops to the flusher and
        # back. Rows that come meanwhile queue for the flusher, which waits for this statement.
        async with self._lock:
            await self._write(pending.head, [pending])

    async def drain(self) -> None:
        """Refuse new rows, and wait until every queued row is written (before closing)."""
        self._closed = True
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    # -- internals -------------------------------------------------------------------------

    def _pending(self, head: str, row: tuple[SqlValue, ...]) -> Pending:
        return Pending(head, row, asyncio.get_running_loop().create_future())

    def _flushing(self) -> bool:
        return self._flusher is not None and not self._flusher.done()

    def _enqueue(self, pending: Pending) -> None:
        self._queue.append(pending)
        if not self._flushing():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        batch: list[Pending] = []
        try:
            while True:
                if not self._queue:
                    # The callers a statement just released are about to save again: one turn
                    # of the loop lets them queue for the next statement rather than race it
                    # one by one on the fast path.
                    await asyncio.sleep(0)
                    if not self._queue:
                        return
                async with self._lock:
                    # Taken now, once the lock is ours: everything that queued while we waited.
                    batch, self._queue = self._queue, []
                    for head in dict.fromkeys(p.head for p in batch):
                        rows = [p for p in batch if p.head == head]
                        size = max(1, min(self.max_rows, _MAX_PARAMETERS // len(rows[0].row)))
                        for start in range(0, len(rows), size):
                            await self._write_chunk(head, rows[start : start + size])
                batch = []
        except BaseException:
            # Cancelled (the event loop is shutting down) or a bug: no one will write these.
            for pending in (*batch, *self._queue):
                pending.done.cancel()
            self._queue = []
            raise

    async def _write_chunk(self, head: str, chunk: list[Pending]) -> None:
        live = [p for p in chunk if not p.done.done()]  # cancelled callers withdrew their row
        if not live:
            return
        try:
            await self._write(head, live)
        except Exception as err:
            if len(live) == 1 or not _may_be_one_rows_fault(err):
                for pending in live:
                    _fail(pending, err)
                return
            for pending in live:
                if pending.done.done():
                    continue
                try:
                    await self._write(head, [pending])
                except Exception as own:
                    _fail(pending, own)
                else:
                    _succeed(pending)
        else:
            for pending in live:
                _succeed(pending)

    async def _write(self, head: str, rows: Sequence[Pending]) -> None:
        """One statement, in autocommit: it is its own transaction."""
        sql = self._statement(head, len(rows[0].row), len(rows))
        await self._run(sql, [value for pending in rows for value in pending.row])
        self._committed()


def _values_statement(head: str, width: int, count: int) -> str:
    """``INSERT INTO t (a, b) VALUES (?, ?), (?, ?)``: ``count`` rows after ``head``."""
    marks = "(" + ", ".join("?" * width) + ")"
    return head + ", ".join([marks] * count)


def _may_be_one_rows_fault(err: Exception) -> bool:
    """False for errors of the database as a whole: busy, locked, full, I/O, closed."""
    cause = err.__cause__ if isinstance(err, StorageError) else err
    if isinstance(err, StorageError) and cause is None:
        return False  # raised by us: the database is closed
    state = getattr(cause, "sqlstate", None)
    if isinstance(state, str):
        # PostgreSQL's classes: 21 one key twice in the statement, 22 a value, 23 a constraint.
        return state[:2] in ("21", "22", "23")
    return not isinstance(cause, sqlite3.OperationalError | OSError)


def _succeed(pending: Pending) -> None:
    if not pending.done.done():
        pending.done.set_result(None)


def _fail(pending: Pending, err: Exception) -> None:
    if pending.done.done():
        return
    if isinstance(err, StorageError):
        # A fresh exception per caller: one instance raised in many tasks would collect all
        # their tracebacks.
        own = StorageError(str(err))
        own.__cause__ = err.__cause__
        err = own
    pending.done.set_exception(err)
