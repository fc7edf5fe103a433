"""What every run of the generator shares, an episode or a scene's rewrite: how a step is called.

A step is taken from the checkpoints when it already ran (and what it was built from is what it
stands on in this run), otherwise asked of the provider inside a limiter slot; each answer is
handed to the run's :class:`~scriptgen.checkpoints.CheckpointWriter` and its cost kept. Each
call (and, apart, its wait for the slot) and each reused step is timed into the run's
:class:`~scriptgen.monitor.PerformanceMonitor`. The scene-level stages of a run (scenes,
refinements, takes) share one bound, ``max_parallel_scenes``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from types import TracebackType
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from scriptgen.checkpoints import CheckpointWriter, StoredStep
from scriptgen.errors import ScriptgenError, StepFailedError
from scriptgen.limiter import FairLimiter
from scriptgen.models import CallUsage
from scriptgen.monitor import PerformanceMonitor, StepClock
from scriptgen.progress import Progress, ProgressCallback, notify
from scriptgen.providers.base import Provider, StepRequest, reporting_first_token
from scriptgen.ratelimits import Reservation

log = logging.getLogger(__name__)

Keep = Callable[[str, BaseModel, CallUsage], None]
"""Takes a step's new answer (key, value, usage): by default the run's checkpoint writer."""

T = TypeVar("T")
OutputT = TypeVar("OutputT", bound=BaseModel)
P = TypeVar("P", bound=Progress)


class Run(Generic[P]):
    """One run's calls: its progress, checkpoints, limiter slots, scene bound and usage."""

    def __init__(
        self,
        provider: Provider,
        limiter: FairLimiter | None,
        max_parallel_scenes: int,
        progress: P,
        callback: ProgressCallback | None,
        saves: CheckpointWriter,
        done: Mapping[str, StoredStep],
        tenant: str,
        *,
        given: Iterable[str] = (),
        monitor: PerformanceMonitor | None = None,
        label: str | None = None,
    ) -> None:
        self.provider = provider
        self.limiter = limiter
        self.bound = asyncio.Semaphore(max_parallel_scenes)
        """Shared by every scene-level stage of the run: scenes, refinements, takes."""
        self.progress = progress
        self.callback = callback
        self.saves = saves
        self.done = done
        self.tenant = tenant
        self.reused: set[str] = set(given)
        """Steps this run took from its checkpoints, or was given (an approved outline)."""
        self.usage: list[CallUsage] = progress.usage
        """The progress's own list: a display reads the running cost from it."""
        self.monitor = monitor or PerformanceMonitor()
        self.label = label
        """Names the run's steps to the monitor: the bot's episode id."""

    async def advance(self, status: str, steps: int = 1) -> None:
        self.progress.current = min(self.progress.current + steps, self.progress.total)
        self.progress.status = status
        await notify(self.callback, self.progress)

    async def settled(self, work: Coroutine[Any, Any, T]) -> T:
        """``work``'s result, once every step it handed over is committed.

        However the run ends (failed, cancelled by a writer or a graceful stop, done), it ends
        with its steps committed; a save that failed is raised once they are.
        """
        try:
            result = await work
        finally:
            await self.saves.settle()
        self.saves.check()
        return result

    async def call(
        self, step: StepRequest[OutputT], description: str, *, keep: Keep | None = None
    ) -> OutputT:
        """The step's output: from the checkpoints if it already ran, else from the model."""
        value, _ = await self.call_with_usage(step, description, keep=keep)
        return value

    async def call_with_usage(
        self, step: StepRequest[OutputT], description: str, *, keep: Keep | None = None
    ) -> tuple[OutputT, CallUsage]:
        """:meth:`call`, and what the step cost (when it was first written, if reused).

        A new answer is handed to ``keep`` instead of the checkpoint writer when given: a
        step begun before what it stands on was saved must wait for it (see ``scene_starts``).
        """
        stored = self.done.get(step.key)
        if stored is not None and self._stands(step):
            try:
                value = step.output.model_validate_json(stored.payload)
            except ValidationError:
                log.warning("checkpoint %s no longer validates; writing it again", step.key)
            else:
                self.reused.add(step.key)
                self.usage.append(stored.usage)
                self.progress.reused_steps += 1
                self.monitor.record(
                    step.kind,
                    step.key,
                    label=self.label,
                    seconds=0.0,
                    outcome="reused",
                    usage=stored.usage,
                )
                return value, stored.usage
        # Checked once the slot is ours: no call is paid for after a checkpoint failed.
        async with metered(
            step, self.limiter, self.tenant, self.monitor, self.label, ready=self.saves.check
        ) as timing:
            started = time.monotonic()
            try:
                generation = await self.provider.generate(step)
            except ScriptgenError as exc:
                failed = CallUsage(
                    step=step.key,
                    model=self.provider.model,
                    latency_s=time.monotonic() - started,
                )
                timing.usage = failed
                self.saves.record_failure(step.key, failed)
                raise StepFailedError(step.key, description, exc) from exc
            timing.usage = generation.usage
        # Committed behind the pipeline: the next call does not wait for the disk.
        (keep or self.saves.save)(step.key, generation.value, generation.usage)
        self.usage.append(generation.usage)
        return generation.value, generation.usage

    def _stands(self, step: StepRequest[Any]) -> bool:
        """Whether a stored answer to ``step`` still stands on what this run has.

        It does when every step it was built from was reused (or given) here too; one written
        again (a checkpoint that no longer validates, an outline asked afresh) may differ from
        what the stored answer was built on.
        """
        missing = [key for key in step.after if key not in self.reused]
        if missing:
            log.info("checkpoint %s stands on %s, written again: so is it", step.key, missing)
        return not missing


@asynccontextmanager
async def metered(
    step: StepRequest[Any],
    limiter: FairLimiter | None,
    tenant: str,
    monitor: PerformanceMonitor,
    label: str | None,
    *,
    ready: Callable[[], None] | None = None,
) -> AsyncIterator[StepClock]:
    """A model call's slot in the limiter (when there is one) and its clock in the monitor:
    what every call makes, in a process of its own or on a Temporal worker. ``ready`` is
    called once the slot is granted, before the clock starts (it may refuse the call)."""
    slot: AbstractAsyncContextManager[Any] = (
        limiter.slot(tenant, Reservation.for_step(step)) if limiter else nullcontext()
    )
    asked = monitor.clock()
    async with slot:
        if ready is not None:
            ready()
        with (
            monitor.step(step.kind, step.key, label=label) as timing,
            reporting_first_token(timing.first_token),
        ):
            if limiter:
                timing.queued(timing.started - asked)
            yield timing


async def all_of(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run the coroutines as one task group; the first failure cancels the rest and is raised
    alone (the earliest-started if several failed together), not wrapped in a group."""
    async with TaskSet() as tasks:
        started = [tasks.start(coro) for coro in coros]
    return [task.result() for task in started]


class TaskSet:
    """An :class:`asyncio.TaskGroup` whose first failure is raised alone, as :func:`all_of`'s.

    Tasks may be started while it runs; one cancelled on its own (a scene begun again) is not a
    failure and cancels nothing else.
    """

    def __init__(self) -> None:
        self._group = asyncio.TaskGroup()
        self.tasks: list[asyncio.Task[Any]] = []

    def start(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = self._group.create_task(coro)
        self.tasks.append(task)
        return task

    async def __aenter__(self) -> TaskSet:
        await self._group.__aenter__()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self._group.__aexit__(et, exc, tb)
        except BaseExceptionGroup as failure:
            first = _first_failure(self.tasks, failure)
            raise first from first.__cause__


def _first_failure(
    tasks: Sequence[asyncio.Task[Any]], group: BaseExceptionGroup[Any]
) -> BaseException:
    own = [e for e in group.exceptions if not isinstance(e, asyncio.CancelledError)]
    if own and not any(t.done() and not t.cancelled() and t.exception() is own[-1] for t in tasks):
        return own[-1]  # the group's body raised it (no task did): the body's failure first
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            return exc
    return group.exceptions[0]


__all__ = ["Keep", "Run", "TaskSet", "all_of", "metered"]
