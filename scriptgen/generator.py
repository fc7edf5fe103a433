"""The episode pipeline: outline, scenes in parallel, comedy pass, refinement.

The critical path of an episode is the outline, the slowest scene's chain (dialogue, then
directions) and the comedy passes; everything else runs beside it. Structured concurrency keeps
the promise that no call outlives :meth:`ScriptGenerator.generate_full_script`: a failing scene
cancels its siblings, and cancelling the caller cancels every call in flight.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from scriptgen import prompts
from scriptgen.checkpoints import Checkpoints, CheckpointWriter, MemoryCheckpoints, StoredStep
from scriptgen.comedy import apply_edits, current_jokes, mean_score, weakest_scenes, weave
from scriptgen.errors import ScriptgenError, StepFailedError
from scriptgen.limiter import FairLimiter
from scriptgen.models import CallUsage, ComedyReport, EpisodeRequest, Outline, Scene, Script
from scriptgen.progress import EpisodeProgress, ProgressCallback, SceneState, Stage, notify
from scriptgen.providers.base import Provider, StepRequest

log = logging.getLogger(__name__)

T = TypeVar("T")
OutputT = TypeVar("OutputT", bound=BaseModel)


class ScriptGenerator:
    """Writes episodes with one provider; safe to share between many concurrent episodes.

    ``max_parallel_scenes`` bounds the scenes one episode writes at once; ``limiter`` (optional)
    bounds the model calls of every episode in the process together, fairly between tenants.
    """

    def __init__(
        self,
        provider: Provider,
        max_parallel_scenes: int = 3,
        *,
        max_refinements: int = 1,
        refine_threshold: float = 6.5,
        max_refine_scenes: int = 3,
        limiter: FairLimiter | None = None,
    ) -> None:
        if max_parallel_scenes < 1:
            raise ValueError("max_parallel_scenes must be at least 1")
        self.provider = provider
        self.max_parallel_scenes = max_parallel_scenes
        self.max_refinements = max_refinements
        self.refine_threshold = refine_threshold
        self.max_refine_scenes = max_refine_scenes
        self.limiter = limiter

    async def generate_full_script(
        self,
        request: EpisodeRequest,
        progress_callback: ProgressCallback | None = None,
        *,
        progress: EpisodeProgress | None = None,
        checkpoints: Checkpoints | None = None,
        tenant: str = "",
    ) -> Script:
        """Write the whole episode.

        Steps found in ``checkpoints`` are reused instead of asking the model again, and each new
        step is saved there as it finishes (committed beside the next call, and all of them
        before this returns or raises). Pass ``progress`` to read the live state from outside.
        """
        started = time.monotonic()
        run = _Run(
            self,
            request,
            progress or EpisodeProgress(request.scene_count, self.max_refinements),
            progress_callback,
            CheckpointWriter(checkpoints or MemoryCheckpoints()),
            await (checkpoints.load() if checkpoints else _no_steps()),
            tenant,
        )
        try:
            outline = await run.outline()
            scenes = await run.scenes(outline)
            scenes, comedy = await run.optimize_script_comedy(outline, scenes)
            scenes, refinements = await run.refine(outline, scenes, comedy)
        finally:
            # However the run ends (failed, cancelled, done), it ends with its steps committed.
            await run.saves.settle()
        run.saves.check()
        run.progress.stage = Stage.DONE
        await run.advance("Done", steps=0)
        return Script(
            request=request,
            outline=outline,
            scenes=scenes,
            comedy=comedy,
            refinements=refinements,
            usage=run.usage,
            provider=self.provider.name,
            model=self.provider.model,
            wall_seconds=time.monotonic() - started,
        )


async def _no_steps() -> Mapping[str, StoredStep]:
    return {}


class _Run:
    """One episode being written: its request, progress, checkpoints and the calls' usage."""

    def __init__(
        self,
        generator: ScriptGenerator,
        request: EpisodeRequest,
        progress: EpisodeProgress,
        callback: ProgressCallback | None,
        saves: CheckpointWriter,
        done: Mapping[str, StoredStep],
        tenant: str,
    ) -> None:
        self.generator = generator
        self.request = request
        self.progress = progress
        self.callback = callback
        self.saves = saves
        self.done = done
        self.tenant = tenant
        self.usage: list[CallUsage] = []

    async def advance(self, status: str, steps: int = 1) -> None:
        self.progress.current = min(self.progress.current + steps, self.progress.total)
        self.progress.status = status
        await notify(self.callback, self.progress)

    async def call(self, step: StepRequest[OutputT], description: str) -> OutputT:
        """The step's output: from the checkpoints if it already ran, else from the model."""
        stored = self.done.get(step.key)
        if stored is not None:
            try:
                value = step.output.model_validate_json(stored.payload)
            except ValidationError:
                log.warning("checkpoint %s no longer validates; writing it again", step.key)
            else:
                self.usage.append(stored.usage)
                self.progress.reused_steps += 1
                return value
        limiter = self.generator.limiter
        slot: AbstractAsyncContextManager[Any] = (
            limiter.slot(self.tenant) if limiter else nullcontext()
        )
        provider = self.generator.provider
        async with slot:
            # Checked once the slot is ours: no call is paid for after a checkpoint failed.
            self.saves.check()
            started = time.monotonic()
            try:
                generation = await provider.generate(step)
            except ScriptgenError as exc:
                failed = CallUsage(
                    step=step.key, model=provider.model, latency_s=time.monotonic() - started
                )
                self.saves.record_failure(step.key, failed)
                raise StepFailedError(step.key, description, exc) from exc
        # Committed behind the pipeline: the next call does not wait for the disk.
        self.saves.save(step.key, generation.value, generation.usage)
        self.usage.append(generation.usage)
        return generation.value

    async def outline(self) -> Outline:
        outline = await self.call(prompts.outline_step(self.request), "The outline")
        self.progress.title = self.request.title or outline.title
        for scene, planned in zip(self.progress.scenes, outline.scenes, strict=True):
            scene.heading = planned.heading
        self.progress.stage = Stage.SCENES
        await self.advance(f"Outline ready: {outline.title}")
        return outline

    async def optimize_script_comedy(
        self, outline: Outline, scenes: list[Scene]
    ) -> tuple[list[Scene], ComedyReport]:
        """Score every joke, then apply the punch-up as targeted line edits."""
        self.progress.stage = Stage.COMEDY
        await self.advance("Comedy pass: scoring the jokes", steps=0)
        report = await self.call(
            prompts.comedy_step(self.request, outline, scenes), "The comedy pass"
        )
        result = apply_edits(scenes, report.edits)
        score = mean_score(report.analyzed_jokes)
        await self.advance(
            f"Comedy pass: {len(report.analyzed_jokes)} jokes scored"
            + (f" (mean {score:.1f})" if score is not None else "")
            + f", {len(result.applied)} punch-ups"
        )
        return result.scenes, report

    async def refine(
        self, outline: Outline, scenes: list[Scene], comedy: ComedyReport
    ) -> tuple[list[Scene], list[ComedyReport]]:
        """Punch up the weakest scenes again while the mean joke score is under the threshold."""
        refinements: list[ComedyReport] = []
        for round_number in range(1, self.generator.max_refinements + 1):
            jokes = current_jokes(comedy, refinements)
            score = mean_score(jokes)
            weak = weakest_scenes(
                jokes,
                len(scenes),
                self.generator.refine_threshold,
                self.generator.max_refine_scenes,
            )
            if (score is not None and score >= self.generator.refine_threshold) or not weak:
                remaining = self.generator.max_refinements - round_number + 1
                await self.advance(
                    f"Refinement not needed (mean joke score {score or 0:.1f})", steps=remaining
                )
                break
            self.progress.stage = Stage.REFINEMENT
            for index in weak:
                self.progress.scenes[index].state = SceneState.PUNCH_UP
            names = ", ".join(str(i + 1) for i in sorted(weak))
            await self.advance(f"Refinement round {round_number}: scenes {names}", steps=0)
            reports = await _all(
                self.call(
                    prompts.refine_step(self.request, outline, scenes, index, round_number),
                    f"Refinement of scene {index + 1}",
                )
                for index in weak
            )
            # A refinement may only touch its own scene.
            merged = ComedyReport(
                analyzed_jokes=[
                    j
                    for i, r in zip(weak, reports, strict=True)
                    for j in r.analyzed_jokes
                    if j.scene == i + 1
                ],
                edits=[
                    e
                    for i, r in zip(weak, reports, strict=True)
                    for e in r.edits
                    if e.scene == i + 1
                ],
            )
            scenes = apply_edits(scenes, merged.edits).scenes
            refinements.append(merged)
            for index in weak:
                self.progress.scenes[index].state = SceneState.DONE
            after = mean_score(current_jokes(comedy, refinements))
            await self.advance(
                f"Refinement round {round_number} done"
                + (f" (mean joke score {after:.1f})" if after is not None else "")
            )
        return scenes, refinements

    async def scenes(self, outline: Outline) -> list[Scene]:
        bound = asyncio.Semaphore(self.generator.max_parallel_scenes)
        return await _all(
            self._scene(outline, index, bound) for index in range(len(outline.scenes))
        )

    async def _scene(self, outline: Outline, index: int, bound: asyncio.Semaphore) -> Scene:
        number, total = index + 1, len(outline.scenes)
        state = self.progress.scenes[index]
        async with bound:
            state.state = SceneState.DIALOGUE
            await self.advance(f"Scene {number}/{total}: writing dialogue", steps=0)
            dialogue = await self.call(
                prompts.dialogue_step(self.request, outline, index), f"Scene {number}'s dialogue"
            )
            state.state = SceneState.DIRECTIONS
            await self.advance(f"Scene {number}/{total}: adding stage directions")
            directions = await self.call(
                prompts.directions_step(self.request, outline, index, dialogue),
                f"Scene {number}'s stage directions",
            )
        state.state = SceneState.DONE
        await self.advance(f"Scene {number}/{total} done: {outline.scenes[index].heading}")
        return weave(outline.scenes[index].heading, dialogue, directions)


async def _all(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run the coroutines as one task group; the first failure cancels the rest and is raised
    alone (the earliest-started if several failed together), not wrapped in a group."""
    tasks: list[asyncio.Task[T]] = []
    try:
        async with asyncio.TaskGroup() as group:
            for coro in coros:
                tasks.append(group.create_task(coro))
    except BaseExceptionGroup as failure:
        first = _first_failure(tasks, failure)
        raise first from first.__cause__
    return [task.result() for task in tasks]


def _first_failure(
    tasks: Sequence[asyncio.Task[Any]], group: BaseExceptionGroup[Any]
) -> BaseException:
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            return exc
    return group.exceptions[0]


__all__ = ["ScriptGenerator"]
