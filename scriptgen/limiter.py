"""A process-wide bound on in-flight model calls, shared fairly between tenants (guilds).

One busy guild with twelve-scene episodes must not starve a guild asking for one scene: waiting
calls are served round-robin across tenants, FIFO within a tenant. The capacity can change at run
time, which is what an adaptive (AIMD) policy reacting to 429/529 answers will drive.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class FairLimiter:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._in_flight = 0
        self.peak = 0
        self._paused = False
        self._idle = asyncio.Event()
        self._idle.set()
        # Tenants with waiters, in the order they are next served; each a FIFO of futures.
        self._queues: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._queues.values())

    async def drain(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Grant no more slots, and wait up to ``timeout`` for those in use to be released.

        For a graceful stop: calls already running may finish (and their results be kept)
        while no new call starts. ``True`` if everything was released in time.
        """
        self._paused = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def set_capacity(self, capacity: int) -> None:
        self._capacity = max(1, capacity)
        self._wake()

    @asynccontextmanager
    async def slot(self, tenant: str = "") -> AsyncIterator[None]:
        await self._acquire(tenant)
        try:
            yield
        finally:
            self._in_flight -= 1
            self._wake()

    async def _acquire(self, tenant: str) -> None:
        if self._in_flight < self._capacity and not self._queues and not self._paused:
            self._take()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(tenant, deque()).append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # The slot was handed over just as we were cancelled: give it back.
                self._in_flight -= 1
                self._wake()
            else:
                self._discard(tenant, future)
            raise

    def _take(self) -> None:
        self._in_flight += 1
        self.peak = max(self.peak, self._in_flight)
        self._idle.clear()

    def _discard(self, tenant: str, future: asyncio.Future[None]) -> None:
        queue = self._queues.get(tenant)
        if queue is not None and future in queue:
            queue.remove(future)
            if not queue:
                del self._queues[tenant]

    def _wake(self) -> None:
        if self._in_flight == 0:
            self._idle.set()
        while self._in_flight < self._capacity and self._queues and not self._paused:
            tenant, queue = next(iter(self._queues.items()))
            future = queue.popleft()
            # Served tenants go to the back of the line: round-robin between guilds.
            del self._queues[tenant]
            if queue:
                self._queues[tenant] = queue
            if not future.done():
                self._take()
                future.set_result(None)
