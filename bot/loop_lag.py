"""How late the event loop wakes: the one number that says whether something blocks it.

A blocked loop stops the gateway heartbeat and every episode at once; a sleeping task that wakes
late measures exactly that, at the cost of one wake per ``period``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from bot.tasks import cancel_and_wait

__all__ = ["LoopLagSampler"]


class LoopLagSampler:
    """Sleeps ``period`` seconds over and over in the loop; each wake's lateness is a sample,
    handed to ``observe`` (the metrics' histogram) and kept for the last ``keep`` wakes."""

    def __init__(
        self,
        period: float = 0.25,
        *,
        observe: Callable[[float], None] | None = None,
        keep: int = 240,
    ) -> None:
        self.period = period
        self._observe = observe
        self.recent: deque[float] = deque(maxlen=keep)
        self.last_wake: float | None = None
        """``time.monotonic()`` of the last wake: a health check sees a stalled sampler."""
        self._task: asyncio.Task[None] | None = None

    @property
    def last(self) -> float:
        return self.recent[-1] if self.recent else 0.0

    @property
    def worst(self) -> float:
        """The largest lag among the kept wakes (about the last minute)."""
        return max(self.recent, default=0.0)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="loop-lag-sampler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.period)
            self.last_wake = time.monotonic()
            lag = max(0.0, self.last_wake - before - self.period)
            self.recent.append(lag)
            if self._observe is not None:
                self._observe(lag)
