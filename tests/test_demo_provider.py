"""The offline demo provider: deterministic, readable episodes, a latency model, cache usage."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from scriptgen import prompts
from scriptgen.generator import ScriptGenerator
from scriptgen.models import Character, Dialogue, EpisodeRequest, Script, SeriesBible
from scriptgen.providers.base import StepKind
from scriptgen.providers.demo import DEMO_MODEL, DemoProvider
from scriptgen.providers.demo_writer import CAST

PREMISE = "A barista discovers the espresso machine is haunted"
KINDS: tuple[StepKind, ...] = ("outline", "dialogue", "directions", "comedy", "refine")
NO_LATENCY: dict[StepKind, float] = dict.fromkeys(KINDS, 0.0)


def request(scenes: int = 3, bible: SeriesBible | None = None) -> EpisodeRequest:
    return EpisodeRequest(premise=PREMISE, scene_count=scenes, bible=bible)


async def write(
    seed: int = 0, scenes: int = 3, parallel: int = 3, bible: SeriesBible | None = None
) -> Script:
    provider = DemoProvider(seed, latencies=NO_LATENCY)
    return await ScriptGenerator(provider, parallel).generate_full_script(request(scenes, bible))


def text_of(script: Script) -> dict[str, Any]:
    """The written content, without timings and usage (which depend on the clock)."""
    return script.model_dump(exclude={"usage", "wall_seconds"})


def dialogue(script: Script) -> list[Dialogue]:
    return [el for scene in script.scenes for el in scene.elements if isinstance(el, Dialogue)]


class SleepRecorder:
    """Stands in for ``asyncio.sleep``: records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


# -- determinism --------------------------------------------------------------------------------


async def test_same_seed_writes_the_same_script() -> None:
    """Two runs with one seed give the same outline, scenes, jokes and edits."""
    assert text_of(await write(seed=7)) == text_of(await write(seed=7))


async def test_same_seed_is_the_same_whatever_the_parallelism() -> None:
    """Scenes written one at a time or three at once read the same (per-step random streams)."""
    assert text_of(await write(seed=7, parallel=1)) == text_of(await write(seed=7, parallel=3))


async def test_different_seeds_write_different_scripts() -> None:
    """Another seed gives another episode from the same premise."""
    first, second = await write(seed=1), await write(seed=2)
    assert [d.line for d in dialogue(first)] != [d.line for d in dialogue(second)]
    assert text_of(first)["outline"] != text_of(second)["outline"]


# -- readability --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
async def test_every_dialogue_line_is_made_of_words(seed: int) -> None:
    """No empty line, no leftover template braces; every token has a letter or a digit."""
    lines = dialogue(await write(seed=seed, scenes=4))
    assert len(lines) >= 4 * 10
    for d in lines:
        assert d.line.strip() == d.line and d.line
        assert "{" not in d.line and "}" not in d.line, d.line
        assert all(any(ch.isalnum() for ch in token) for token in d.line.split()), d.line
        assert len(d.line.split()) >= 2, d.line


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
async def test_cues_are_names_from_the_demo_cast(seed: int) -> None:
    """Without a series bible every speaker is one of the demo's cast."""
    assert {d.character for d in dialogue(await write(seed=seed))} <= set(CAST)


async def test_cues_come_from_the_bible_when_it_has_characters() -> None:
    """With a series bible the cast is its characters, upper-cased as screenplay cues."""
    bible = SeriesBible(
        show_title="Grounds for Concern",
        characters=[Character(name="Rosa"), Character(name="Theo"), Character(name="Mr. Kim")],
    )
    script = await write(seed=4, scenes=4, bible=bible)
    cues = {d.character for d in dialogue(script)}
    assert cues <= {"ROSA", "THEO", "MR. KIM"} and len(cues) >= 2
    assert {c for s in script.outline.scenes for c in s.characters} <= {"ROSA", "THEO", "MR. KIM"}


async def test_a_one_character_bible_still_gets_an_episode() -> None:
    """A show with a single character is written, every line spoken by that character."""
    bible = SeriesBible(characters=[Character(name="Solo")])
    script = await write(seed=0, scenes=2, bible=bible)
    assert {d.character for d in dialogue(script)} == {"SOLO"}


@pytest.mark.parametrize("scenes", range(1, 13))
async def test_outline_has_exactly_the_requested_scene_count(scenes: int) -> None:
    """The outline step (with its scene-count check) returns exactly 1..12 scenes as asked."""
    generation = await DemoProvider(latencies=NO_LATENCY).generate(
        prompts.outline_step(request(scenes))
    )
    assert len(generation.value.scenes) == scenes
    assert all(s.heading.startswith(("INT. ", "EXT. ")) for s in generation.value.scenes)


async def test_the_demo_says_it_is_a_demo() -> None:
    """The logline is the premise, marked as an offline demo episode."""
    script = await write()
    assert script.outline.logline == f"{PREMISE}. (An offline demo episode.)"
    assert script.provider == "demo" and script.model == DEMO_MODEL


# -- the latency model --------------------------------------------------------------------------


async def test_call_lasts_first_token_time_plus_time_per_output_token() -> None:
    """Without fixed latencies a call sleeps ttft + seconds_per_token * output tokens (its
    first token after ttft)."""
    sleep = SleepRecorder()
    provider = DemoProvider(time_to_first_token=0.5, seconds_per_token=0.01, sleep=sleep)
    generation = await provider.generate(prompts.outline_step(request()))
    tokens = generation.usage.output_tokens
    assert tokens == len(generation.value.model_dump_json()) // 4
    assert sleep.delays == [pytest.approx(0.5), pytest.approx(0.01 * tokens)]


async def test_fixed_latency_for_a_kind_replaces_the_model() -> None:
    """``latencies[kind]`` is the delay for that kind; other kinds keep the token model."""
    sleep = SleepRecorder()
    provider = DemoProvider(
        time_to_first_token=0.25,
        seconds_per_token=0.002,
        latencies={"dialogue": 1.5},
        sleep=sleep,
    )
    script = await ScriptGenerator(provider, 1, max_refinements=0).generate_full_script(request(2))
    assert sleep.delays.count(1.5) == 2  # the two dialogues
    outline_tokens = next(u.output_tokens for u in script.usage if u.step == "outline")
    # The outline streams its two scenes over its time: three pieces (title, then each scene).
    assert sum(sleep.delays[:3]) == pytest.approx(0.25 + 0.002 * outline_tokens)


async def test_an_outline_streams_its_scenes_one_by_one_over_its_latency() -> None:
    """With ``on_partial`` set, each scene entry is told whole once the next has begun."""
    sleep, seen = SleepRecorder(), list[Any]()
    provider = DemoProvider(latencies={"outline": 1.2}, sleep=sleep)
    step = replace(prompts.outline_step(request(3)), on_partial=seen.append)
    outline = (await provider.generate(step)).value
    assert sleep.delays == pytest.approx([0.3] * 4)
    scenes = outline.model_dump(mode="json")["scenes"]
    assert [len(value["scenes"]) for value in seen] == [2, 3]
    assert seen[0]["scenes"] == [scenes[0], {"heading": scenes[1]["heading"]}]
    assert seen[1]["scenes"][:2] == scenes[:2]
    assert all(value["title"] == outline.title for value in seen)


async def test_zero_latency_does_not_sleep() -> None:
    """A zero delay skips the sleep entirely."""
    sleep = SleepRecorder()
    provider = DemoProvider(latencies=NO_LATENCY, sleep=sleep)
    await ScriptGenerator(provider).generate_full_script(request(2))
    assert sleep.delays == []


# -- usage --------------------------------------------------------------------------------------


async def test_first_use_of_a_prefix_writes_the_cache_and_later_uses_read_it() -> None:
    """Same system prompt and shared context: written once, then read in full each time."""
    provider = DemoProvider(latencies=NO_LATENCY)
    step = prompts.outline_step(request())
    first, second, third = [(await provider.generate(step)).usage for _ in range(3)]
    assert first.cache_write_tokens > 0 and first.cache_read_tokens == 0
    for later in (second, third):
        assert later.cache_write_tokens == 0
        assert later.cache_read_tokens == first.cache_write_tokens
    assert first.input_tokens == second.input_tokens > 0
    assert first.model == DEMO_MODEL and first.step == "outline"


async def test_a_new_prefix_is_written_to_the_cache_again() -> None:
    """Another premise is another shared context: a cache write, not a read."""
    provider = DemoProvider(latencies=NO_LATENCY)
    await provider.generate(prompts.outline_step(request()))
    other = EpisodeRequest(premise="Two neighbours share one lawnmower", scene_count=3)
    usage = (await provider.generate(prompts.outline_step(other))).usage
    assert usage.cache_write_tokens > 0 and usage.cache_read_tokens == 0


async def test_a_whole_episode_reads_most_of_its_prefix_from_the_cache() -> None:
    """Across an episode, later calls read cached prefixes: reads outweigh writes."""
    totals = (await write(scenes=4)).totals
    assert totals.cache_read_tokens > totals.cache_write_tokens > 0
