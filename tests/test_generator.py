"""The parallel pipeline: speed-up, bounds, progress, failures, cancellation, checkpoints."""

from __future__ import annotations

import asyncio
import time

import pytest

from scriptgen.checkpoints import MemoryCheckpoints
from scriptgen.errors import StepFailedError
from scriptgen.generator import ScriptGenerator
from scriptgen.limiter import FairLimiter
from scriptgen.models import Dialogue, EpisodeRequest
from scriptgen.progress import EpisodeProgress, SceneState, Stage
from scriptgen.providers.base import StepKind
from tests.scripted_provider import Boom, ScriptedProvider

REPORT_LATENCIES: dict[StepKind, float] = {"dialogue": 0.2, "directions": 0.1}


def request(scenes: int = 3) -> EpisodeRequest:
    return EpisodeRequest(
        premise="A barista discovers the espresso machine is haunted", scene_count=scenes
    )


async def timed(generator: ScriptGenerator, scenes: int = 3) -> float:
    started = time.perf_counter()
    await generator.generate_full_script(request(scenes))
    return time.perf_counter() - started


async def test_parallel_execution_achieves_speedup() -> None:
    """Three scenes at once are at least twice as fast as one at a time."""
    sequential = await timed(ScriptGenerator(ScriptedProvider(REPORT_LATENCIES), 1))
    parallel = await timed(ScriptGenerator(ScriptedProvider(REPORT_LATENCIES), 3))
    assert sequential / parallel >= 2.0, (sequential, parallel)


async def test_semaphore_limits_concurrency() -> None:
    """With max_parallel_scenes=2 the provider never sees more than two scenes at once."""
    provider = ScriptedProvider({"dialogue": 0.03, "directions": 0.02})
    await ScriptGenerator(provider, 2).generate_full_script(request(6))
    assert provider.peak_scenes_in_flight == 2
    assert sum(r.kind == "dialogue" for r in provider.history) == 6


async def test_progress_callbacks_fire_correctly() -> None:
    """The callback gets (status, current, total) for the outline, each step and each pass."""
    events: list[tuple[str, int, int]] = []
    generator = ScriptGenerator(ScriptedProvider(), 1, max_refinements=1)
    script = await generator.generate_full_script(
        request(2), lambda s, c, t: events.append((s, c, t))
    )
    total = 1 + 2 * 2 + 1 + 1
    assert {t for _, _, t in events} == {total}
    currents = [c for _, c, _ in events]
    assert currents == sorted(currents) and currents[-1] == total
    statuses = [s for s, _, _ in events]
    assert statuses[0] == f"Outline ready: {script.outline.title}"
    assert statuses[1:7] == [
        "Scene 1/2: writing dialogue",
        "Scene 1/2: adding stage directions",
        f"Scene 1/2 done: {script.outline.scenes[0].heading}",
        "Scene 2/2: writing dialogue",
        "Scene 2/2: adding stage directions",
        f"Scene 2/2 done: {script.outline.scenes[1].heading}",
    ]
    assert statuses[7] == "Comedy pass: scoring the jokes"
    assert statuses[8].startswith("Comedy pass: ") and "jokes scored" in statuses[8]
    assert statuses[-1] == "Done"


async def test_async_callback_and_failing_callback_do_not_stop_the_episode(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A callback that raises is logged; an async callback is awaited."""
    seen: list[int] = []

    async def callback(status: str, current: int, total: int) -> None:
        seen.append(current)
        if current == 1:
            raise RuntimeError("display broke")

    script = await ScriptGenerator(ScriptedProvider()).generate_full_script(request(2), callback)
    assert len(script.scenes) == 2
    assert seen[-1] == 1 + 2 * 2 + 1 + 1
    assert "progress callback failed" in caplog.text


async def test_error_handling_in_parallel_execution() -> None:
    """A failing scene raises one error naming it, cancels its siblings, leaves no task."""
    provider = ScriptedProvider(
        {"dialogue": 0.05, "directions": 5.0},
        failures={"scene:2:dialogue": Boom("model fell over")},
    )
    before = asyncio.all_tasks()
    with pytest.raises(StepFailedError) as caught:
        await ScriptGenerator(provider, 3).generate_full_script(request(3))
    assert caught.value.step == "scene:2:dialogue"
    assert str(caught.value) == "Scene 2's dialogue failed: model fell over"
    assert not provider.in_flight
    cancelled = {r.key for r in provider.history if r.cancelled}
    assert cancelled == {"scene:1:directions", "scene:3:directions"}
    assert asyncio.all_tasks() == before


async def test_cancelling_the_caller_cancels_every_call_within_a_second() -> None:
    """Cancel (a user's button) stops every in-flight call promptly."""
    provider = ScriptedProvider({"dialogue": 30.0})
    task = asyncio.create_task(ScriptGenerator(provider, 3).generate_full_script(request(3)))
    while len(provider.in_flight) < 3:
        await asyncio.sleep(0.01)
    started = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - started < 1.0
    assert not provider.in_flight
    assert sum(r.cancelled for r in provider.history) == 3


async def test_script_is_complete_and_edits_are_applied() -> None:
    """The script has every scene with dialogue and action; punch-ups replaced their lines."""
    script = await ScriptGenerator(ScriptedProvider(seed=3), 3).generate_full_script(request(4))
    assert [s.heading for s in script.scenes] == [s.heading for s in script.outline.scenes]
    for scene in script.scenes:
        kinds = {el.kind for el in scene.elements}
        assert {"dialogue", "action", "transition"} <= kinds
    for edit in script.comedy.edits:
        element = script.scenes[edit.scene - 1].elements[edit.line - 1]
        if not any(
            e.scene == edit.scene and e.line == edit.line
            for r in script.refinements
            for e in r.edits
        ):
            assert isinstance(element, Dialogue) and element.line == edit.new_text
    refined = [u.step for u in script.usage if u.step.startswith("refine:")]
    steps = [
        "outline",
        *(f"scene:{n}:{k}" for n in range(1, 5) for k in ("dialogue", "directions")),
    ]
    assert sorted(u.step for u in script.usage) == sorted([*steps, "comedy", *refined])
    assert script.totals.calls == len(script.usage)


async def test_checkpointed_steps_are_not_asked_again() -> None:
    """A resumed episode sends the provider only the steps that had not finished."""
    checkpoints = MemoryCheckpoints()
    first = ScriptedProvider({"directions": 0.05}, failures={"scene:3:directions": Boom("down")})
    with pytest.raises(StepFailedError):
        await ScriptGenerator(first, 3).generate_full_script(request(3), checkpoints=checkpoints)
    done = set(checkpoints.steps)
    assert {"outline", "scene:1:dialogue", "scene:2:dialogue", "scene:3:dialogue"} <= done
    second = ScriptedProvider()
    progress = EpisodeProgress(3)
    script = await ScriptGenerator(second, 3).generate_full_script(
        request(3), checkpoints=checkpoints, progress=progress
    )
    asked = {r.key for r in second.history}
    assert not asked & done
    assert "scene:3:directions" in asked and "comedy" in asked
    assert progress.reused_steps == len(done)
    assert progress.stage is Stage.DONE
    assert all(s.state is SceneState.DONE for s in progress.scenes)
    assert len(script.usage) == len(done) + len(asked)


async def test_limiter_bounds_calls_across_episodes() -> None:
    """A shared limiter bounds the calls of several episodes together."""
    limiter = FairLimiter(2)
    provider = ScriptedProvider({"dialogue": 0.02, "directions": 0.01})
    generator = ScriptGenerator(provider, 3, limiter=limiter)
    await asyncio.gather(
        *(generator.generate_full_script(request(3), tenant=f"g{i}") for i in range(3))
    )
    assert limiter.peak == 2
    assert limiter.in_flight == 0
