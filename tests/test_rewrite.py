"""Rewriting one scene to a writer's note: takes, bounds, checkpoints, revisions."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from scriptgen import prompts
from scriptgen.checkpoints import MemoryCheckpoints
from scriptgen.errors import StepFailedError
from scriptgen.generator import ScriptGenerator
from scriptgen.limiter import FairLimiter
from scriptgen.models import CallUsage, DialogueLine, EpisodeRequest, SceneDialogue, Script
from scriptgen.progress import RewriteProgress, SceneState
from scriptgen.render import render_sync
from tests.scripted_provider import Boom, CallRecord, ScriptedProvider

NOTE = "Bo should be furious about the parrot"


@pytest.fixture(scope="module")
def script() -> Script:
    request = EpisodeRequest(premise="A parrot inherits the coffee shop", scene_count=3)
    generator = ScriptGenerator(ScriptedProvider(seed=2), 3)
    return asyncio.run(generator.generate_full_script(request))


def keys(provider: ScriptedProvider) -> list[str]:
    return sorted(r.key for r in provider.history)


def overlapping(records: list[CallRecord]) -> bool:
    ordered = sorted(records, key=lambda r: r.started)
    return any(a.ended is None or a.ended > b.started for a, b in itertools.pairwise(ordered))


# -- Script.replace_scene -----------------------------------------------------------------------


def test_replace_scene_keeps_every_other_scene_and_adds_the_usage(script: Script) -> None:
    """The copy has the new scene; the others are the same objects; usage is appended."""
    usage = CallUsage(step="take:1:scene:2:dialogue", model="m")
    revised = script.replace_scene(1, script.scenes[0], [usage])
    assert revised.scenes[1] is script.scenes[0]
    assert revised.scenes[0] is script.scenes[0] and revised.scenes[2] is script.scenes[2]
    assert revised.usage == [*script.usage, usage]
    assert script.scenes[1] is not script.scenes[0]


def test_replace_scene_refuses_an_index_out_of_range(script: Script) -> None:
    """A scene that does not exist is an IndexError, not a silent append."""
    with pytest.raises(IndexError, match="out of range"):
        script.replace_scene(3, script.scenes[0])


# -- prompts ------------------------------------------------------------------------------------


def test_rewrite_steps_share_the_episodes_cached_prefix(script: Script) -> None:
    """Same kind, tools and shared context as the episode's steps; keys name the take."""
    request, outline = script.request, script.outline
    step = prompts.rewrite_dialogue_step(request, outline, script.scenes, 1, NOTE, 2, 3)
    episode_step = prompts.dialogue_step(request, outline, 1)
    assert (step.kind, step.key) == ("dialogue", "take:2:scene:2:dialogue")
    assert step.shared_context == episode_step.shared_context
    assert step.tools == episode_step.tools and step.system == episode_step.system
    assert NOTE in step.prompt and prompts.render_scene(2, script.scenes[1]) in step.prompt
    assert "take 2 of 3" in step.prompt and prompts.TAKE_APPROACHES[1] in step.prompt
    assert (step.facts.note, step.facts.take, step.after) == (NOTE, 2, ())


def test_a_single_take_is_not_asked_for_a_distinct_approach(script: Script) -> None:
    """With one take the prompt does not talk about takes."""
    step = prompts.rewrite_dialogue_step(
        script.request, script.outline, script.scenes, 0, NOTE, 1, 1
    )
    assert "of 1" not in step.prompt
    assert not any(approach in step.prompt for approach in prompts.TAKE_APPROACHES)


def test_rewrite_directions_stand_on_their_takes_dialogue(script: Script) -> None:
    """The directions step is keyed by take and built after that take's dialogue."""
    dialogue = SceneDialogue(lines=[DialogueLine(character="BO", line="Fine. I'm furious.")])
    step = prompts.rewrite_directions_step(script.request, script.outline, 2, dialogue, NOTE, 1)
    episode_step = prompts.directions_step(script.request, script.outline, 2, dialogue)
    assert (step.kind, step.key) == ("directions", "take:1:scene:3:directions")
    assert step.after == ("take:1:scene:3:dialogue",)
    assert step.shared_context == episode_step.shared_context
    assert NOTE in step.prompt and "Fine. I'm furious." in step.prompt


# -- rewrite_scene ------------------------------------------------------------------------------


async def test_a_rewrite_follows_the_note_and_keeps_the_heading(script: Script) -> None:
    """The rewritten scene differs from the old one, carries the note and keeps its heading."""
    provider = ScriptedProvider()
    [take] = await ScriptGenerator(provider).rewrite_scene(script, 1, NOTE)
    assert take.scene.heading == script.scenes[1].heading
    assert take.scene != script.scenes[1]
    assert NOTE in prompts.render_scene(2, take.scene)
    assert keys(provider) == ["take:1:scene:2:dialogue", "take:1:scene:2:directions"]
    assert [u.step for u in take.usage] == ["take:1:scene:2:dialogue", "take:1:scene:2:directions"]


async def test_takes_differ_from_each_other(script: Script) -> None:
    """Three takes are three different scenes."""
    takes = await ScriptGenerator(ScriptedProvider()).rewrite_scene(script, 0, NOTE, takes=3)
    assert len(takes) == 3
    assert len({prompts.render_scene(1, t.scene) for t in takes}) == 3


async def test_a_rewrite_is_deterministic_for_a_seed(script: Script) -> None:
    """The demo writes the same take for the same seed, scene, note and take."""
    first = await ScriptGenerator(ScriptedProvider(seed=4)).rewrite_scene(script, 2, NOTE)
    second = await ScriptGenerator(ScriptedProvider(seed=4)).rewrite_scene(script, 2, NOTE)
    assert first[0].scene == second[0].scene


async def test_a_revision_keeps_the_other_scenes_byte_for_byte(script: Script) -> None:
    """Replacing the chosen take changes that scene of the screenplay and nothing else."""
    [take] = await ScriptGenerator(ScriptedProvider()).rewrite_scene(script, 1, NOTE)
    revised = Script.model_validate_json(
        script.replace_scene(1, take.scene, take.usage).model_dump_json()
    )
    assert revised.scenes[0].model_dump_json() == script.scenes[0].model_dump_json()
    assert revised.scenes[2].model_dump_json() == script.scenes[2].model_dump_json()
    assert NOTE in render_sync(revised, "fountain").decode()
    assert NOTE not in render_sync(script, "fountain").decode()


async def test_takes_run_in_parallel(script: Script) -> None:
    """With room for three, the three takes' dialogues are written at the same time."""
    provider = ScriptedProvider({"dialogue": 0.05, "directions": 0.01})
    await ScriptGenerator(provider, 3).rewrite_scene(script, 0, NOTE, takes=3)
    dialogues = [r for r in provider.history if r.kind == "dialogue"]
    assert max(r.started for r in dialogues) < min(r.ended or 0 for r in dialogues)


async def test_takes_respect_max_parallel_scenes(script: Script) -> None:
    """With max_parallel_scenes=1 one take runs at a time."""
    provider = ScriptedProvider({"dialogue": 0.02, "directions": 0.01})
    await ScriptGenerator(provider, 1).rewrite_scene(script, 0, NOTE, takes=3)
    assert len(provider.history) == 6
    assert not overlapping(provider.history)


async def test_takes_go_through_the_shared_limiter(script: Script) -> None:
    """A process-wide limiter bounds a rewrite's calls like an episode's."""
    limiter = FairLimiter(1)
    provider = ScriptedProvider({"dialogue": 0.02})
    await ScriptGenerator(provider, 3, limiter=limiter).rewrite_scene(
        script, 0, NOTE, takes=3, tenant="guild"
    )
    assert limiter.peak == 1 and limiter.in_flight == 0
    assert not overlapping(provider.history)


async def test_progress_counts_two_steps_a_take(script: Script) -> None:
    """The callback sees each take's steps; the snapshot ends with every take done."""
    progress = RewriteProgress(scene=1)
    events: list[tuple[str, int, int]] = []
    await ScriptGenerator(ScriptedProvider(), 1).rewrite_scene(
        script,
        1,
        NOTE,
        takes=2,
        progress=progress,
        progress_callback=lambda s, c, t: events.append((s, c, t)),
    )
    assert progress.scene == 2 and progress.takes == [SceneState.DONE] * 2
    assert (progress.current, progress.total, progress.status) == (4, 4, "Done")
    assert [s for s, _, _ in events[:3]] == [
        "Scene 2, take 1/2: rewriting the dialogue",
        "Scene 2, take 1/2: adding stage directions",
        "Scene 2, take 1/2 done",
    ]
    assert {t for _, _, t in events} == {4}


async def test_a_failing_take_names_its_step_and_cancels_the_others(script: Script) -> None:
    """One take's failure raises StepFailedError for it; the other takes are cancelled."""
    provider = ScriptedProvider(
        {"dialogue": 0.02, "directions": 5.0},
        failures={"take:2:scene:1:dialogue": Boom("model fell over")},
    )
    with pytest.raises(StepFailedError) as caught:
        await ScriptGenerator(provider, 3).rewrite_scene(script, 0, NOTE, takes=3)
    assert caught.value.step == "take:2:scene:1:dialogue"
    assert str(caught.value) == "Take 2 of scene 1's rewrite (dialogue) failed: model fell over"
    assert not provider.in_flight
    assert {r.key for r in provider.history if r.cancelled} == {
        "take:1:scene:1:directions",
        "take:3:scene:1:directions",
    }


async def test_a_resumed_rewrite_asks_only_for_what_is_missing(script: Script) -> None:
    """Steps checkpointed by an interrupted rewrite are reused, the rest asked for."""
    checkpoints = MemoryCheckpoints()
    failing = ScriptedProvider(failures={"take:2:scene:3:directions": Boom("down")})
    with pytest.raises(StepFailedError):
        await ScriptGenerator(failing, 1).rewrite_scene(
            script, 2, NOTE, takes=2, checkpoints=checkpoints
        )
    assert set(checkpoints.steps) == {
        "take:1:scene:3:dialogue",
        "take:1:scene:3:directions",
        "take:2:scene:3:dialogue",
    }
    provider, progress = ScriptedProvider(), RewriteProgress(scene=3)
    takes = await ScriptGenerator(provider, 1).rewrite_scene(
        script, 2, NOTE, takes=2, checkpoints=checkpoints, progress=progress
    )
    assert keys(provider) == ["take:2:scene:3:directions"]
    assert progress.reused_steps == 3
    assert [len(t.usage) for t in takes] == [2, 2]


@pytest.mark.parametrize(
    ("index", "note", "takes", "message"),
    [
        (3, NOTE, 1, "scenes 1 to 3, not 4"),
        (0, NOTE, 4, "1 to 3 takes"),
        (0, NOTE, 0, "1 to 3 takes"),
        (0, "   ", 1, "the note is empty"),
        (0, "x" * 1001, 1, "the limit is 1000"),
    ],
)
async def test_a_rewrite_that_cannot_be_done_is_refused(
    script: Script, index: int, note: str, takes: int, message: str
) -> None:
    """A missing scene, a bad number of takes or an empty note is a ValueError, with no call."""
    provider = ScriptedProvider()
    with pytest.raises(ValueError, match=message):
        await ScriptGenerator(provider).rewrite_scene(script, index, note, takes=takes)
    assert provider.history == []
