"""Scenes begun while the outline streams: early, checked against the finished outline."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import anthropic
import pytest
from pydantic import BaseModel

from scriptgen import prompts
from scriptgen.checkpoints import MemoryCheckpoints
from scriptgen.errors import StepFailedError
from scriptgen.generator import ScriptGenerator
from scriptgen.models import CallUsage, EpisodeRequest, Outline
from scriptgen.progress import EpisodeProgress, Stage
from scriptgen.providers.anthropic import AnthropicProvider
from scriptgen.providers.base import Generation, OutputT, StepRequest
from tests.episode_responder import EpisodeResponder
from tests.fake_anthropic import FakeAnthropic
from tests.scripted_provider import Boom, CallRecord, ScriptedProvider

PREMISE = "A barista discovers the espresso machine is haunted"


def request(scenes: int = 4) -> EpisodeRequest:
    return EpisodeRequest(premise=PREMISE, scene_count=scenes)


class OrderedCheckpoints(MemoryCheckpoints):
    """Remembers the order in which steps were saved."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    async def save(self, key: str, value: BaseModel, usage: CallUsage) -> None:
        self.order.append(key)
        await super().save(key, value, usage)


def calls(provider: ScriptedProvider, key: str) -> list[CallRecord]:
    return [r for r in provider.history if r.key == key]


def with_scene_2_beat(beat: str) -> Any:
    def amend(outline: Outline) -> Outline:
        scenes = list(outline.scenes)
        scenes[1] = scenes[1].model_copy(update={"beat": beat})
        return outline.model_copy(update={"scenes": scenes})

    return amend


async def test_the_first_dialogue_call_starts_before_the_outline_call_ends() -> None:
    """Scene 1 begins as soon as its entry is whole, not when the whole outline is."""
    provider = ScriptedProvider({"outline": 0.5, "dialogue": 0.05, "directions": 0.05})
    script = await ScriptGenerator(provider, 4).generate_full_script(request(4))
    [outline] = calls(provider, "outline")
    assert outline.ended is not None
    starts = [calls(provider, f"scene:{n}:dialogue")[0].started for n in range(1, 5)]
    assert starts[0] < outline.started + 0.5 * 0.5  # whole at 2/5 of the outline's time
    assert starts[:3] == sorted(starts[:3]) and starts[2] < outline.ended
    assert [s.heading for s in script.scenes] == [s.heading for s in script.outline.scenes]


async def test_scenes_appear_on_the_progress_one_by_one_while_the_outline_streams() -> None:
    """The status card sees each scene's heading (and its writing) before the outline is done."""
    progress = EpisodeProgress(4)
    seen: list[tuple[Stage, int]] = []

    def look(status: str, current: int, total: int) -> None:
        seen.append((progress.stage, sum(s.heading is not None for s in progress.scenes)))

    provider = ScriptedProvider({"outline": 0.4, "dialogue": 0.3})
    await ScriptGenerator(provider, 4).generate_full_script(request(4), look, progress=progress)
    during = [headings for stage, headings in seen if stage is Stage.OUTLINE]
    assert during == sorted(during) and during[0] == 1 and during[-1] == 3


async def test_a_scene_begun_on_an_entry_the_final_outline_changes_is_begun_again() -> None:
    """Its first chain is cancelled and not kept; the scene is written from the final entry."""
    checkpoints = OrderedCheckpoints()
    progress = EpisodeProgress(4)
    provider = ScriptedProvider(
        {"outline": 0.4, "dialogue": 0.3, "directions": 0.02},
        amend={"outline": with_scene_2_beat("Asked again, the model changed its mind.")},
    )
    script = await ScriptGenerator(provider, 4).generate_full_script(
        request(4), progress=progress, checkpoints=checkpoints
    )
    first, again = calls(provider, "scene:2:dialogue")
    assert first.cancelled and not again.cancelled
    assert progress.restarted_scenes == 1
    assert [len(calls(provider, f"scene:{n}:dialogue")) for n in (1, 3, 4)] == [1, 1, 1]
    assert script.outline.scenes[1].beat == "Asked again, the model changed its mind."
    assert checkpoints.order.count("scene:2:dialogue") == 1
    assert progress.current == progress.total


async def test_an_answer_written_on_a_changed_entry_is_not_kept_but_its_cost_is() -> None:
    """A dialogue finished on the old entry is never checkpointed; its call is in the ledger."""
    checkpoints = OrderedCheckpoints()
    progress = EpisodeProgress(3)
    provider = ScriptedProvider(
        {"outline": 0.4, "dialogue": 0.01, "directions": 0.5},
        amend={"outline": with_scene_2_beat("A different beat.")},
    )
    await ScriptGenerator(provider, 3).generate_full_script(
        request(3), progress=progress, checkpoints=checkpoints
    )
    assert len(calls(provider, "scene:2:dialogue")) == 2
    assert progress.restarted_scenes == 1
    assert [u.step for u in checkpoints.failures] == ["scene:2:dialogue"]
    assert checkpoints.order.count("scene:2:dialogue") == 1


async def test_answers_begun_early_are_checkpointed_after_the_outline() -> None:
    """A step is never stored before the outline it stands on, though it finished first."""
    checkpoints = OrderedCheckpoints()
    provider = ScriptedProvider({"outline": 0.4, "dialogue": 0.01, "directions": 0.01})
    await ScriptGenerator(provider, 3).generate_full_script(request(3), checkpoints=checkpoints)
    [outline] = calls(provider, "outline")
    [directions] = calls(provider, "scene:1:directions")
    assert outline.ended is not None and directions.ended is not None
    assert directions.ended < outline.ended
    assert checkpoints.order[0] == "outline"
    assert checkpoints.order.index("scene:1:dialogue") < checkpoints.order.index(
        "scene:1:directions"
    )


async def test_if_the_outline_fails_nothing_begun_early_is_kept() -> None:
    """The early scenes are cancelled, their finished answers are not stored, their cost is."""
    checkpoints = OrderedCheckpoints()
    provider = ScriptedProvider(
        {"outline": 0.3, "dialogue": 0.01, "directions": 1.0},
        failures={"outline": Boom("the outline fell over")},
    )
    before = asyncio.all_tasks()
    with pytest.raises(StepFailedError) as caught:
        await ScriptGenerator(provider, 3).generate_full_script(request(3), checkpoints=checkpoints)
    assert caught.value.step == "outline"
    assert checkpoints.order == []
    assert {u.step for u in checkpoints.failures} >= {"outline", "scene:1:dialogue"}
    assert all(r.cancelled for r in provider.history if r.key.endswith("directions"))
    assert asyncio.all_tasks() == before


async def test_a_resumed_episode_reuses_the_scenes_begun_early() -> None:
    """Scene steps begun before the outline was finished are reused on resume like any."""
    checkpoints = MemoryCheckpoints()
    first = ScriptedProvider(
        {"outline": 0.3, "dialogue": 0.01, "directions": 0.01},
        failures={"comedy": Boom("down")},
    )
    with pytest.raises(StepFailedError):
        await ScriptGenerator(first, 3).generate_full_script(request(3), checkpoints=checkpoints)
    second = ScriptedProvider()
    await ScriptGenerator(second, 3).generate_full_script(request(3), checkpoints=checkpoints)
    assert {r.key for r in second.history} >= {"comedy"}
    assert not {r.key for r in second.history} & {"outline", *prompts.scene_keys(3)}


def test_an_early_step_shares_the_outline_calls_cached_prefix() -> None:
    """Begun early, a scene call's prefix is exactly the outline call's; its prompt has the
    outline so far. The same step once the outline is written carries it in the prefix."""
    ask = request(3)
    outline_step = prompts.outline_step(ask)
    outline = Outline.model_validate(
        {
            "title": "The Ghost Shot",
            "logline": "Espresso, haunted.",
            "scenes": [
                {
                    "heading": f"INT. CAFE - DAY {n}",
                    "location": "Cafe",
                    "time": "DAY",
                    "characters": ["MAYA"],
                    "beat": f"Beat {n}.",
                    "comic_goal": "Irony.",
                }
                for n in range(1, 3)
            ],
        }
    )
    early = prompts.dialogue_step(ask, outline, 1, written=False)
    assert (early.system, early.shared_context) == (
        outline_step.system,
        outline_step.shared_context,
    )
    assert "EPISODE OUTLINE (still being written: 3 scenes)" in early.prompt
    assert "Scene 1: INT. CAFE - DAY 1 - Beat 1." in early.prompt
    assert "Scene 2 (this one): INT. CAFE - DAY 2\n  Characters: MAYA\n  Beat: Beat 2." in (
        early.prompt
    )
    later = prompts.dialogue_step(ask, outline, 1)
    assert later.shared_context[-1] == prompts.render_outline(outline)
    assert (early.key, early.after) == (later.key, later.after)


async def test_through_the_sdk_a_scene_call_reaches_the_api_before_the_outline_is_done() -> None:
    """The provider tells the outline as the fake streams it; scene 1's request arrives while
    the outline's answer is still streaming, and reads the outline call's cached prefix."""
    streamed = {"write_outline": 0.4}
    async with (
        FakeAnthropic(
            responder=EpisodeResponder(seed=4), chunk_chars=24, stream_s_by_tool=streamed
        ) as fake,
        anthropic.AsyncAnthropic(api_key="k", base_url=fake.base_url) as client,
    ):
        script = await ScriptGenerator(AnthropicProvider(client), 3).generate_full_script(
            request(3)
        )
    [outline] = fake.requests_for("write_outline")
    dialogues = fake.requests_for("write_dialogue")
    assert outline.finished is not None
    first = min(dialogues, key=lambda r: r.started)
    assert first.started < outline.finished
    assert first.system_blocks == outline.system_blocks
    assert "still being written" in first.last_user_text
    assert len(script.scenes) == 3


async def test_the_anthropic_provider_tells_the_tool_input_as_it_streams() -> None:
    """``on_partial`` gets the input parsed so far, scenes growing; the answer is the whole."""
    seen: list[Any] = []
    async with (
        FakeAnthropic(responder=EpisodeResponder(seed=2), chunk_chars=16) as fake,
        anthropic.AsyncAnthropic(api_key="k", base_url=fake.base_url) as client,
    ):
        step = replace(prompts.outline_step(request(3)), on_partial=seen.append)
        answer = await AnthropicProvider(client).generate(step)
    counts = [len(value.get("scenes", [])) for value in seen]
    assert counts == sorted(counts) and counts[-1] == 3
    assert all(isinstance(value, dict) for value in seen)
    whole = answer.value.model_dump(mode="json")
    assert any(value.get("scenes", [])[:1] == whole["scenes"][:1] for value in seen)


class OutlineAskedTwice(ScriptedProvider):
    """Streams an outline, then (as a provider asking again after a rejected answer) streams
    another from the start whose scene 2 differs, and answers with that second one."""

    outline_answered = 0.0

    async def generate(self, step: StepRequest[OutputT]) -> Generation[OutputT]:
        if step.kind != "outline" or step.on_partial is None:
            return await super().generate(step)
        generation = await super().generate(replace(step, on_partial=None))
        final = generation.value
        assert isinstance(final, Outline)
        second = final.model_dump(mode="json")
        first = final.model_dump(mode="json")
        first["scenes"][1]["beat"] = "The first answer's scene 2."
        for value in (first, second):
            for n in range(1, len(value["scenes"])):
                step.on_partial({**value, "scenes": [*value["scenes"][:n], {"heading": "INT."}]})
                await asyncio.sleep(0.05)
            step.on_partial({"title": value["title"]})  # the next attempt starts empty
        self.outline_answered = asyncio.get_running_loop().time()
        return generation


async def test_a_new_attempt_at_the_outline_restarts_a_changed_scene_at_once() -> None:
    """Scene 2 is begun again as soon as the second attempt streams another scene 2; scenes 1
    and 3 go on (scene 3's directions begin while the second attempt has not reached it)."""
    progress = EpisodeProgress(4)
    provider = OutlineAskedTwice({"dialogue": 0.07, "directions": 0.01})
    script = await ScriptGenerator(provider, 4).generate_full_script(request(4), progress=progress)
    assert progress.restarted_scenes == 1
    _, again = calls(provider, "scene:2:dialogue")
    assert again.started < provider.outline_answered
    [directions] = calls(provider, "scene:3:directions")
    assert directions.started < provider.outline_answered
    assert [len(calls(provider, f"scene:{n}:dialogue")) for n in (1, 3, 4)] == [1, 1, 1]
    assert len(script.scenes) == 4
