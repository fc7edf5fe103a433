"""The parallel pipeline: speed-up, bounds, progress, failures, cancellation, checkpoints."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from scriptgen.checkpoints import MemoryCheckpoints, StoredStep
from scriptgen.errors import StepFailedError
from scriptgen.generator import ScriptGenerator
from scriptgen.limiter import FairLimiter
from scriptgen.models import Dialogue, EpisodeRequest, Outline
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


async def test_refinement_respects_max_parallel_scenes() -> None:
    """With max_parallel_scenes=1, no two refinement calls are ever in flight together."""
    provider = ScriptedProvider({"refine": 0.02})
    generator = ScriptGenerator(provider, 1, refine_threshold=11, max_refine_scenes=3)
    await generator.generate_full_script(request(3))
    refines = sorted((r for r in provider.history if r.kind == "refine"), key=lambda r: r.started)
    assert len(refines) == 3
    for first, second in itertools.pairwise(refines):
        assert first.ended is not None and first.ended <= second.started, (first, second)


async def test_a_stored_step_on_a_rewritten_dialogue_is_asked_again() -> None:
    """On resume, directions stored for a dialogue that had to be written again are not reused."""
    checkpoints = MemoryCheckpoints()
    await ScriptGenerator(ScriptedProvider(), 3).generate_full_script(
        request(2), checkpoints=checkpoints
    )
    usage = checkpoints.steps["scene:1:dialogue"].usage
    checkpoints.steps["scene:1:dialogue"] = StoredStep('{"lines": []}', usage)  # fails validation
    provider = ScriptedProvider(seed=5)
    await ScriptGenerator(provider, 3).generate_full_script(request(2), checkpoints=checkpoints)
    asked = {r.key for r in provider.history}
    assert {"scene:1:dialogue", "scene:1:directions", "comedy"} <= asked
    assert not asked & {"outline", "scene:2:dialogue", "scene:2:directions"}


# -- reviewing the outline ----------------------------------------------------------------------


async def test_write_outline_is_one_checkpointed_call() -> None:
    """write_outline asks only for the outline, saved under "outline"."""
    provider, checkpoints = ScriptedProvider(), MemoryCheckpoints()
    outline = await ScriptGenerator(provider).write_outline(request(3), checkpoints=checkpoints)
    assert [r.key for r in provider.history] == ["outline"]
    assert len(outline.scenes) == 3
    assert Outline.model_validate_json(checkpoints.steps["outline"].payload) == outline


async def test_write_outline_reuses_its_checkpoint_unless_fresh() -> None:
    """A stored outline is returned with no call; fresh=True asks again and replaces it."""
    checkpoints = MemoryCheckpoints()
    first = await ScriptGenerator(ScriptedProvider()).write_outline(
        request(3), checkpoints=checkpoints
    )
    again = ScriptedProvider(seed=9)
    assert await ScriptGenerator(again).write_outline(request(3), checkpoints=checkpoints) == first
    assert again.history == []
    fresh = await ScriptGenerator(again).write_outline(
        request(3), checkpoints=checkpoints, fresh=True
    )
    assert [r.key for r in again.history] == ["outline"]
    assert fresh != first
    assert Outline.model_validate_json(checkpoints.steps["outline"].payload) == fresh


async def test_write_outline_returns_the_given_outline_without_a_call() -> None:
    """An outline already in the request is the answer; the model is not asked."""
    outline = await ScriptGenerator(ScriptedProvider()).write_outline(request(2))
    provider = ScriptedProvider()
    given = request(2).model_copy(update={"outline": outline})
    assert await ScriptGenerator(provider).write_outline(given) is outline
    assert provider.history == []


async def test_an_edited_outline_is_written_without_an_outline_call() -> None:
    """With request.outline set the episode follows it: no outline call, progress as if done."""
    outline = await ScriptGenerator(ScriptedProvider()).write_outline(request(3))
    edited = outline.model_copy(update={"title": "The Edit", "scenes": outline.scenes[:2]})
    given = EpisodeRequest(premise=request().premise, scene_count=3, outline=edited)
    provider, events = ScriptedProvider(), list[tuple[str, int, int]]()
    script = await ScriptGenerator(provider).generate_full_script(
        given, lambda s, c, t: events.append((s, c, t))
    )
    assert "outline" not in {r.key for r in provider.history}
    assert given.scene_count == 2
    assert script.outline == edited
    assert [s.heading for s in script.scenes] == [s.heading for s in edited.scenes]
    assert events[0] == ("Outline ready: The Edit", 1, 1 + 2 * 2 + 1 + 1)
    assert events[-1][1] == events[-1][2]


async def test_an_approved_outline_counts_as_reused_on_resume() -> None:
    """Scene steps stored on the approved outline are reused; its call's cost is in the script."""
    checkpoints = MemoryCheckpoints()
    outline = await ScriptGenerator(ScriptedProvider()).write_outline(
        request(2), checkpoints=checkpoints
    )
    given = request(2).model_copy(update={"outline": outline})
    failing = ScriptedProvider(failures={"scene:2:directions": Boom("down")})
    with pytest.raises(StepFailedError):
        await ScriptGenerator(failing, 1).generate_full_script(given, checkpoints=checkpoints)
    provider = ScriptedProvider()
    script = await ScriptGenerator(provider, 1).generate_full_script(given, checkpoints=checkpoints)
    asked = {r.key for r in provider.history}
    assert not asked & {"outline", "scene:1:dialogue", "scene:1:directions", "scene:2:dialogue"}
    assert "scene:2:directions" in asked
    assert [u.step for u in script.usage].count("outline") == 1
