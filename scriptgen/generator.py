"""The episode pipeline: outline, scenes in parallel, comedy pass, refinement; and rewrites.

The critical path of an episode is the outline, the slowest scene's chain (dialogue, then
directions) and the comedy passes; everything else runs beside it. Each scene's chain begins as
soon as its entry of the outline has streamed, before the outline call ends
(:mod:`scriptgen.scene_starts`). Structured concurrency keeps
the promise that no call outlives :meth:`ScriptGenerator.generate_full_script`: a failing scene
cancels its siblings, and cancelling the caller cancels every call in flight.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TypeVar

from scriptgen import prompts
from scriptgen.checkpoints import Checkpoints, CheckpointWriter, MemoryCheckpoints, StoredStep
from scriptgen.comedy import apply_edits, current_jokes, mean_score, weakest_scenes, weave
from scriptgen.limiter import FairLimiter
from scriptgen.models import ComedyReport, EpisodeRequest, Outline, Scene, Script
from scriptgen.monitor import PerformanceMonitor
from scriptgen.progress import (
    EpisodeProgress,
    Progress,
    ProgressCallback,
    RewriteProgress,
    SceneProgress,
    SceneState,
    Stage,
)
from scriptgen.providers.base import Provider, StepRequest
from scriptgen.rewrite import RewriteTake, check_rewrite, rewrite
from scriptgen.run import Run, TaskSet, all_of
from scriptgen.scene_starts import SceneAttempt, SceneStarts

P = TypeVar("P", bound=Progress)


class ScriptGenerator:
    """Writes episodes with one provider; safe to share between many concurrent episodes.

    ``max_parallel_scenes`` bounds the scenes one episode writes at once; ``limiter`` (optional)
    bounds the model calls of every episode in the process together, fairly between tenants.
    ``monitor`` times every step of every run (one of its own when not given); a run's
    ``label`` names its steps there.
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
        monitor: PerformanceMonitor | None = None,
    ) -> None:
        if max_parallel_scenes < 1:
            raise ValueError("max_parallel_scenes must be at least 1")
        self.provider = provider
        self.max_parallel_scenes = max_parallel_scenes
        self.max_refinements = max_refinements
        self.refine_threshold = refine_threshold
        self.max_refine_scenes = max_refine_scenes
        self.limiter = limiter
        self.monitor = monitor or PerformanceMonitor()

    async def write_outline(
        self,
        request: EpisodeRequest,
        *,
        checkpoints: Checkpoints | None = None,
        tenant: str = "",
        fresh: bool = False,
        label: str | None = None,
    ) -> Outline:
        """Just the outline, for writers to review before the scenes are written.

        Checkpointed as ``outline``, so the episode written from it later reuses it. ``fresh``
        asks the model again even when a checkpoint exists (its answer replaces it). An outline
        already in ``request.outline`` is returned as it is, with no call.
        """
        if request.outline is not None:
            return request.outline
        progress = EpisodeProgress(request.scene_count, self.max_refinements)
        run = await self._start(progress, None, checkpoints, tenant, label, fresh=fresh)
        return await run.settled(run.call(prompts.outline_step(request), "The outline"))

    async def generate_full_script(
        self,
        request: EpisodeRequest,
        progress_callback: ProgressCallback | None = None,
        *,
        progress: EpisodeProgress | None = None,
        checkpoints: Checkpoints | None = None,
        tenant: str = "",
        label: str | None = None,
    ) -> Script:
        """Write the whole episode (from ``request.outline`` when the writers gave one).

        Steps found in ``checkpoints`` are reused instead of asking the model again, and each new
        step is saved there as it finishes (committed beside the next call, and all of them
        before this returns or raises). Pass ``progress`` to read the live state from outside.
        """
        started = time.monotonic()
        progress = progress or EpisodeProgress(request.scene_count, self.max_refinements)
        given = [prompts.OUTLINE_KEY] if request.outline is not None else []
        run = await self._start(
            progress, progress_callback, checkpoints, tenant, label, given=given
        )
        episode = _Episode(self, run, request)
        outline, scenes, comedy, refinements = await run.settled(episode.write())
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

    async def rewrite_scene(
        self,
        script: Script,
        index: int,
        note: str,
        *,
        takes: int = 1,
        checkpoints: Checkpoints | None = None,
        tenant: str = "",
        progress: RewriteProgress | None = None,
        progress_callback: ProgressCallback | None = None,
        label: str | None = None,
    ) -> list[RewriteTake]:
        """Write scene ``index`` (0-based) of ``script`` again to a writer's ``note``.

        Each of the ``takes`` (1 to 3) is a dialogue call then a directions call; takes run side
        by side within ``max_parallel_scenes``, through the limiter, checkpointed (under keys of
        their own: give each rewrite its own checkpoints) and reused on resume like an
        episode's steps. A failing take raises :class:`~scriptgen.errors.StepFailedError` and
        cancels the others. :meth:`Script.replace_scene` makes the revision from a take.
        """
        note = check_rewrite(script, index, note, takes)
        progress = progress or RewriteProgress(index + 1)
        progress.scene = index + 1
        progress.takes = [SceneState.WAITING] * takes
        run = await self._start(progress, progress_callback, checkpoints, tenant, label)
        return await run.settled(rewrite(run, script, index, note, takes))

    async def _start(
        self,
        progress: P,
        callback: ProgressCallback | None,
        checkpoints: Checkpoints | None,
        tenant: str,
        label: str | None,
        *,
        fresh: bool = False,
        given: Iterable[str] = (),
    ) -> Run[P]:
        done: Mapping[str, StoredStep] = {}
        if checkpoints is not None and not fresh:
            done = await checkpoints.load()
        return Run(
            self.provider,
            self.limiter,
            self.max_parallel_scenes,
            progress,
            callback,
            CheckpointWriter(checkpoints or MemoryCheckpoints(), monitor=self.monitor, label=label),
            done,
            tenant,
            given=given,
            monitor=self.monitor,
            label=label,
        )


class _Episode:
    """One episode being written: its request, and the stages that write it."""

    def __init__(
        self, generator: ScriptGenerator, run: Run[EpisodeProgress], request: EpisodeRequest
    ) -> None:
        self.generator = generator
        self.run = run
        self.request = request
        self.progress = run.progress

    async def write(self) -> tuple[Outline, list[Scene], ComedyReport, list[ComedyReport]]:
        outline, draft = await self.outline_and_scenes()
        scenes, comedy = await self.optimize_script_comedy(outline, draft)
        scenes, refinements = await self.refine(outline, draft, scenes, comedy)
        return outline, scenes, comedy, refinements

    async def outline_and_scenes(self) -> tuple[Outline, list[Scene]]:
        """The outline, and every scene's chain begun as soon as its entry is written."""
        if self.request.outline is not None:
            # The writers' outline: its model call (if it was ours) was paid for this episode.
            stored = self.run.done.get(prompts.OUTLINE_KEY)
            if stored is not None:
                self.run.usage.append(stored.usage)
            outline = await self.outline_ready(self.request.outline)
            return outline, await self.scenes(outline)
        starts: SceneStarts | None = None
        try:
            async with TaskSet() as tasks:
                starts = SceneStarts(self.run, self.request, tasks, self._scene)
                step = replace(prompts.outline_step(self.request), on_partial=starts.partial)
                outline = await self.outline_ready(await self.run.call(step, "The outline"))
                starts.final(outline)
        finally:
            if starts is not None:
                starts.discard_held()
        return outline, starts.scenes()

    async def outline_ready(self, outline: Outline) -> Outline:
        self.progress.title = self.request.title or outline.title
        if len(self.progress.scenes) != len(outline.scenes):
            self.progress.scene_count = len(outline.scenes)
            self.progress.scenes = [SceneProgress(n) for n in range(1, len(outline.scenes) + 1)]
        for scene, planned in zip(self.progress.scenes, outline.scenes, strict=True):
            scene.heading = planned.heading
        self.progress.stage = Stage.SCENES
        await self.run.advance(f"Outline ready: {outline.title}")
        return outline

    async def optimize_script_comedy(
        self, outline: Outline, scenes: list[Scene]
    ) -> tuple[list[Scene], ComedyReport]:
        """Score every joke, then apply the punch-up as targeted line edits."""
        self.progress.stage = Stage.COMEDY
        await self.run.advance("Comedy pass: scoring the jokes", steps=0)
        report = await self.run.call(
            prompts.comedy_step(self.request, outline, scenes), "The comedy pass"
        )
        result = apply_edits(scenes, report.edits)
        score = mean_score(report.analyzed_jokes)
        await self.run.advance(
            f"Comedy pass: {len(report.analyzed_jokes)} jokes scored"
            + (f" (mean {score:.1f})" if score is not None else "")
            + f", {len(result.applied)} punch-ups"
        )
        return result.scenes, report

    async def refine(
        self, outline: Outline, draft: list[Scene], scenes: list[Scene], comedy: ComedyReport
    ) -> tuple[list[Scene], list[ComedyReport]]:
        """Punch up the weakest scenes again while the mean joke score is under the threshold
        (``draft``: the scenes the comedy pass scored, ``scenes`` with its edits)."""
        generator = self.generator
        refinements: list[ComedyReport] = []
        earlier: list[str] = []
        for round_number in range(1, generator.max_refinements + 1):
            jokes = current_jokes(comedy, refinements)
            score = mean_score(jokes)
            weak = weakest_scenes(
                jokes, len(scenes), generator.refine_threshold, generator.max_refine_scenes
            )
            if (score is not None and score >= generator.refine_threshold) or not weak:
                remaining = generator.max_refinements - round_number + 1
                await self.run.advance(
                    f"Refinement not needed (mean joke score {score or 0:.1f})", steps=remaining
                )
                break
            self.progress.stage = Stage.REFINEMENT
            names = ", ".join(str(i + 1) for i in sorted(weak))
            await self.run.advance(f"Refinement round {round_number}: scenes {names}", steps=0)
            steps = [
                prompts.refine_step(
                    self.request, outline, draft, scenes, index, round_number, earlier
                )
                for index in weak
            ]
            reports = await all_of(
                self._refine_scene(step, index) for step, index in zip(steps, weak, strict=True)
            )
            earlier += [step.key for step in steps]
            # A refinement may only touch its own scene.
            pairs = list(zip(weak, reports, strict=True))
            merged = ComedyReport(
                analyzed_jokes=[j for i, r in pairs for j in r.analyzed_jokes if j.scene == i + 1],
                edits=[e for i, r in pairs for e in r.edits if e.scene == i + 1],
            )
            scenes = apply_edits(scenes, merged.edits).scenes
            refinements.append(merged)
            after = mean_score(current_jokes(comedy, refinements))
            await self.run.advance(
                f"Refinement round {round_number} done"
                + (f" (mean joke score {after:.1f})" if after is not None else "")
            )
        return scenes, refinements

    async def _refine_scene(self, step: StepRequest[ComedyReport], index: int) -> ComedyReport:
        """One weak scene's punch-up, within the run's bound like every scene-level call."""
        state = self.progress.scenes[index]
        async with self.run.bound:
            state.state = SceneState.PUNCH_UP
            report = await self.run.call(step, f"Refinement of scene {index + 1}")
        state.state = SceneState.DONE
        return report

    async def scenes(self, outline: Outline) -> list[Scene]:
        """Every scene of a finished outline (the writers' own), all begun at once."""
        async with TaskSet() as tasks:
            starts = SceneStarts(self.run, self.request, tasks, self._scene)
            starts.final(outline)
        return starts.scenes()

    async def _scene(self, attempt: SceneAttempt) -> Scene:
        """One scene's chain: dialogue, then stage directions, within the run's scene bound."""
        index, heading = attempt.index, attempt.entry.heading
        number, total = index + 1, self.request.scene_count
        state = self.progress.scenes[index]
        async with self.run.bound:
            state.state = SceneState.DIALOGUE
            await self.run.advance(f"Scene {number}/{total}: writing dialogue", steps=0)
            dialogue = await self.run.call(
                attempt.dialogue_step(), f"Scene {number}'s dialogue", keep=attempt.keep
            )
            state.state = SceneState.DIRECTIONS
            attempt.steps += 1
            await self.run.advance(f"Scene {number}/{total}: adding stage directions")
            directions = await self.run.call(
                attempt.directions_step(dialogue),
                f"Scene {number}'s stage directions",
                keep=attempt.keep,
            )
        state.state = SceneState.DONE
        attempt.steps += 1
        await self.run.advance(f"Scene {number}/{total} done: {heading}")
        return weave(heading, dialogue, directions)


__all__ = ["ScriptGenerator"]
