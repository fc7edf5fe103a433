"""Where finished steps are kept, so an interrupted episode resumes without paying twice.

The generator asks its checkpoints for every step before calling the provider, and hands each step
to a :class:`CheckpointWriter` the moment it finishes: the commit runs beside the next model call
instead of in front of it. :class:`MemoryCheckpoints` serves a single run; ``storage`` provides
checkpoints backed by SQLite that survive a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel

from scriptgen.models import CallUsage

if TYPE_CHECKING:
    from scriptgen.monitor import PerformanceMonitor

__all__ = ["CheckpointWriter", "Checkpoints", "MemoryCheckpoints", "StoredStep"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredStep:
    payload: str
    """The step's output as JSON, validated again against the step's model when reused."""
    usage: CallUsage


class Checkpoints(Protocol):
    async def load(self) -> Mapping[str, StoredStep]:
        """Every step already finished for this episode, by step key."""
        ...

    async def save(self, key: str, value: BaseModel, usage: CallUsage) -> None:
        """Record a finished step; called once per step, as soon as it finishes."""
        ...

    async def record_failure(self, key: str, usage: CallUsage) -> None:
        """Record a call that failed: it may have cost something, and operators count them."""
        ...


class MemoryCheckpoints:
    """Checkpoints that live as long as the object: for one run, and for tests."""

    def __init__(self, steps: Mapping[str, StoredStep] | None = None) -> None:
        self.steps: dict[str, StoredStep] = dict(steps or {})
        self.failures: list[CallUsage] = []

    async def load(self) -> Mapping[str, StoredStep]:
        return dict(self.steps)

    async def save(self, key: str, value: BaseModel, usage: CallUsage) -> None:
        self.steps[key] = StoredStep(value.model_dump_json(), usage)

    async def record_failure(self, key: str, usage: CallUsage) -> None:
        self.failures.append(usage)


class CheckpointWriter:
    """Writes one episode's checkpoints behind its pipeline, in the order its steps finished.

    A save is a commit, and a commit is a round trip to the database's thread: well under a
    millisecond when the disk is idle, but as long as a disk stall, or another process holding
    the file's write lock, when it is not. Awaited in the pipeline, that wait would sit on every
    step of the critical path and keep the step's limiter slot from the next waiting call (of
    any guild). Here the pipeline hands the step over and goes on; this episode's own writer
    task commits the steps one after another while the next model call is already running.

    What the generator still guarantees, and how:

    - **Nothing paid for is dropped.** :meth:`settle` waits for every save handed over; the
      generator calls it however a run ends (returned, failed, cancelled by a writer's Cancel or
      a graceful stop), so a run that has ended has committed every step it was told of. The
      writer task is not the run's: cancelling the run does not cancel a commit half-way.
    - **What is stored is a prefix.** Saves are written in the order they were handed over, and
      none after one that failed. A step is handed over only after every step it was built from
      (directions after their dialogue, the comedy pass after every scene), so a resumed episode
      never finds a step without the steps beneath it.
    - **A failed save stops the spending.** :meth:`check` raises the first failure; the
      generator calls it before each model call, and once the run has settled.

    A crash loses at most the steps whose commit had not landed, exactly as when saves are
    awaited: the step was paid for either way, and the restart asks for it again.

    Given a ``monitor``, each commit is timed as a ``checkpoint`` step keyed by the step it
    commits, labelled ``label``; its queued time is the wait behind the episode's earlier
    commits.
    """

    def __init__(
        self,
        checkpoints: Checkpoints,
        *,
        monitor: PerformanceMonitor | None = None,
        label: str | None = None,
    ) -> None:
        self._checkpoints = checkpoints
        self._monitor = monitor
        self._label = label
        self._queue: deque[tuple[str, Callable[[], Awaitable[None]], float]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._failure: Exception | None = None

    @property
    def pending(self) -> int:
        """Saves handed over and not yet committed."""
        return len(self._queue)

    def save(self, key: str, value: BaseModel, usage: CallUsage) -> None:
        """Hand over a finished step; it is committed after every step handed over before."""
        self._submit(key, partial(self._checkpoints.save, key, value, usage))

    def record_failure(self, key: str, usage: CallUsage) -> None:
        """Hand over the ledger row of a failed call, in order with the saves."""
        self._submit(key, partial(self._checkpoints.record_failure, key, usage))

    def check(self) -> None:
        """Raise the save that failed, if one did: the episode must not pay for more steps."""
        if self._failure is not None:
            # Raised by several tasks (parallel scenes): each raise starts a fresh traceback
            # rather than piling onto the last one. The original was logged when it happened.
            raise self._failure.with_traceback(None)

    async def settle(self) -> None:
        """Wait until everything handed over is written, or a save has failed.

        Cancelling this wait leaves the writes going on: they finish on their own task.
        """
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    def _submit(self, key: str, write: Callable[[], Awaitable[None]]) -> None:
        if self._failure is not None:
            return  # nothing is written after a failed save (see the class's docstring)
        self._queue.append((key, write, self._monitor.clock() if self._monitor else 0.0))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._write(), name="checkpoint-writer"
            )

    async def _write(self) -> None:
        while self._queue:
            key, write, handed = self._queue[0]
            try:
                if self._monitor is None:
                    await write()
                else:
                    with self._monitor.step("checkpoint", key, label=self._label) as timing:
                        timing.queued(timing.started - handed)  # behind the episode's commits
                        await write()
            except Exception as err:
                log.error("could not save the checkpoint %s: %s", key, err, exc_info=err)
                self._failure = err
                self._queue.clear()
                return
            self._queue.popleft()
