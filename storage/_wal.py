"""WAL checkpoints off the writers' path: a second connection, on its own aiosqlite thread.

SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past 1,000 pages: that
one commit copies the whole WAL into the database file and fsyncs it (20-30 ms measured by
``bench/storage.py``), and every save queued behind it waits. :class:`~storage.database.Database`
turns it off on its writing connection (``wal_autocheckpoint = 0``) and this class runs
``PRAGMA wal_checkpoint(PASSIVE)`` instead, from its own connection and thread. PASSIVE copies
what it can without taking the write lock or waiting for anyone, so writers never wait for it.

Copying is not enough to keep the file small: the WAL starts again from its beginning only when
a write begins while every frame in it has been copied. Commits that land while a checkpoint
runs leave it a few frames short, and under steady load it would stay short forever while the
WAL grows (to 25 MB in a bench run). So a checkpoint that ends short is followed at once by
passes over what was added meanwhile (a few pages: well under a millisecond each), until one
ends complete; and if the WAL has nevertheless grown past :data:`WAL_LIMIT_PAGES` (sustained
load with no gap between commits), one last small pass runs holding the writers' lock, so that
the next commit restarts the WAL. That pass copies only the frames of the previous pass's few
milliseconds: writers wait for it rarely (every few thousand saves, under load only) and
briefly (~1 ms), never for a whole WAL.

A checkpoint starts after :data:`CHECKPOINT_EVERY` commits, or :data:`CHECKPOINT_AFTER` seconds
after the first commit not yet checkpointed, whichever comes first (a quiet database is folded in
shortly after its last write); never two at once. :meth:`WalCheckpointer.close` runs a TRUNCATE
checkpoint, which leaves the WAL empty, and closes the connection (and so stops its thread).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Final

import aiosqlite

__all__ = ["CHECKPOINT_AFTER", "CHECKPOINT_EVERY", "WAL_LIMIT_PAGES", "WalCheckpointer"]

log = logging.getLogger(__name__)

CHECKPOINT_EVERY: Final = 64
"""Commits between checkpoints under load. A save adds ~4 pages to the WAL, a group commit of
50 saves ~150: each checkpoint has a few hundred pages to copy (a few ms on this thread, while
the writers go on)."""

CHECKPOINT_AFTER: Final = 0.25
"""Seconds from the first commit not yet checkpointed to a checkpoint, when fewer commits come."""

CATCH_UP_PASSES: Final = 4
"""Passes over the frames added during the previous one, without the writers' lock."""

WAL_LIMIT_PAGES: Final = 4096
"""WAL pages (16 MiB of 4 KiB pages) past which the last pass holds the writers' lock."""

CLOSE_BUSY_TIMEOUT_MS: Final = 1000
"""How long the TRUNCATE checkpoint at close waits for another process's readers or writer;
past it the WAL is simply left for the next checkpoint (nothing is lost)."""


class WalCheckpointer:
    """Checkpoints the WAL of one database file; :meth:`committed` is called after each commit."""

    def __init__(self, connection: aiosqlite.Connection, label: str, lock: asyncio.Lock) -> None:
        """Use :meth:`open`. ``lock`` is the one the writers hold around each statement."""
        self._conn = connection
        self._label = label
        self._writers = lock
        self._commits = 0
        self._timer: asyncio.TimerHandle | None = None
        self._running: asyncio.Task[None] | None = None
        self._closed = False
        self.checkpoints = 0
        """Checkpoints started so far (read by the bench and the tests)."""
        self.locked_passes = 0
        """Passes run holding the writers' lock (read by the bench and the tests)."""

    @classmethod
    async def open(cls, path: str, label: str, lock: asyncio.Lock) -> WalCheckpointer:
        connection = await aiosqlite.connect(path, isolation_level=None)
        try:
            await connection.execute_fetchall(f"PRAGMA busy_timeout = {CLOSE_BUSY_TIMEOUT_MS}")
        except BaseException:
            await connection.close()
            raise
        return cls(connection, label, lock)

    def committed(self, commits: int = 1) -> None:
        """The writing connection has committed: start a checkpoint if one is due."""
        if self._closed:
            return
        self._commits += commits
        if self._commits >= CHECKPOINT_EVERY:
            self._start()
        elif self._timer is None and self._commits:
            self._timer = asyncio.get_running_loop().call_later(CHECKPOINT_AFTER, self._start)

    async def close(self) -> None:
        """Wait for a checkpoint in progress, fold the WAL in whole (TRUNCATE), close.

        The caller holds the writers' lock, and so must this checkpoint's last pass: it is
        cancelled rather than awaited (the copy it was making is simply made again).
        """
        if self._closed:
            return
        self._closed = True
        self._cancel_timer()
        try:
            if self._running is not None and not self._running.done():
                self._running.cancel()
                await asyncio.gather(self._running, return_exceptions=True)
            await self._checkpoint("TRUNCATE")
        finally:
            try:
                await self._conn.close()
            except sqlite3.Error as err:
                log.warning(
                    "%s: error while closing the checkpoint connection: %s", self._label, err
                )

    # -- internals -------------------------------------------------------------------------

    def _start(self) -> None:
        self._cancel_timer()
        if self._closed or (self._running is not None and not self._running.done()):
            return  # the one running re-arms when it ends if commits came meanwhile
        self._commits = 0
        self.checkpoints += 1
        self._running = asyncio.get_running_loop().create_task(self._catch_up())

    async def _catch_up(self) -> None:
        wal_pages, previous = 0, -1
        for _ in range(1 + CATCH_UP_PASSES):
            result = await self._checkpoint("PASSIVE")
            if result is None or result[0]:  # failed (logged), or another checkpoint runs
                break
            # A pass reports the WAL as its own snapshot saw it: it is complete only if the
            # next pass finds no frame added meanwhile.
            _, wal_pages, copied = result
            if copied >= wal_pages == previous:
                break  # complete: the next commit restarts the WAL from its beginning
            previous = wal_pages
        else:
            if wal_pages >= WAL_LIMIT_PAGES:
                async with self._writers:
                    self.locked_passes += 1
                    await self._checkpoint("PASSIVE")
        self.committed(0)  # re-arm if commits came meanwhile

    async def _checkpoint(self, mode: str) -> tuple[int, int, int] | None:
        """``(busy, WAL pages, pages copied)``, or None if it failed (logged)."""
        try:
            rows = await self._conn.execute_fetchall(f"PRAGMA wal_checkpoint({mode})")
        except sqlite3.Error as err:
            # Not the writers' problem: the WAL is folded in by a later checkpoint, or by the
            # next start-up. A damaged file is reported by the writers' own statements.
            log.warning("%s: WAL checkpoint (%s) failed: %s", self._label, mode, err)
            return None
        for busy, wal_pages, copied in rows:
            log.debug(
                "%s: %s checkpoint: busy=%s, WAL %s pages, %s copied",
                self._label,
                mode,
                busy,
                wal_pages,
                copied,
            )
            return int(busy), int(wal_pages), int(copied)
        return None

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
