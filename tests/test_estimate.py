"""The cost estimate: an upper bound of what an episode or a rewrite costs, checked against the
worst the fake API can be made to bill through the real SDK (every answer as long as its
``max_tokens`` allows), call by call."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import anthropic
import pytest

from scriptgen.estimate import (
    CallBound,
    bound_cost,
    episode_calls,
    estimate_episode,
    estimate_rewrite,
    rewrite_calls,
    token_bound,
)
from scriptgen.generator import ScriptGenerator
from scriptgen.models import (
    CallUsage,
    Character,
    EpisodeRequest,
    Outline,
    SceneOutline,
    Script,
    SeriesBible,
)
from scriptgen.pricing import cost_of
from scriptgen.providers.anthropic import AnthropicProvider
from tests.fake_anthropic import FakeAnthropic, forced_tool, last_user_text
from tests.storage.conftest import build_script

KEY = "sk-ant-test-key-0123456789"
MODEL = "claude-sonnet-4-5"
JSON = dict[str, Any]

BIBLE = SeriesBible(
    show_title="Grounds for Dismissal",
    logline="Two siblings run a failing coffee shop in a building owned by a litigious parrot.",
    setting="The Daily Grind, a narrow coffee shop in Leeds, and the flat above it. " * 4,
    tone="Warm, fast, character-driven.",
    characters=[
        Character(name=name, description="Runs the shop, badly. " * 6, voice="Dry. " * 20)
        for name in ("DANA", "MARCUS", "PRIYA", "GUS")
    ],
    running_gags=["The espresso machine only works when nobody looks at it."] * 3,
    previous_episodes=[f"Episode {n}: the parrot wins again. " * 5 for n in range(1, 6)],
)
REQUEST = EpisodeRequest(
    premise="The parrot inherits the building and raises the rent.", scene_count=3, bible=BIBLE
)


# -- a fake that bills the most it can --------------------------------------------------------


class LongestAnswers:
    """Answers every forced tool validly with JSON as long as the step's ``max_tokens`` lets it
    be (the fake bills four characters a token): the most each call can cost, and the longest
    quotes of earlier answers in later prompts. Every joke scores 1, so refinement runs."""

    def __call__(self, body: JSON) -> JSON:
        tool, prompt = forced_tool(body), last_user_text(body)
        build: Callable[[int], JSON]
        if tool == "write_outline":
            match = re.search(r"exactly (\d+) scene", prompt)
            assert match is not None
            build = _outline(int(match.group(1)))
        elif tool == "write_dialogue":
            build = _dialogue
        elif tool == "add_stage_directions":
            build = _directions
        else:
            assert tool == "punch_up"
            build = _punch_up(_punched_up(body, prompt))
        return _longest(build, int(body["max_tokens"]) * 4 * 97 // 100)


def _punched_up(body: JSON, prompt: str) -> list[int]:
    """The scenes a punch-up call is about: the one a refinement names, else the draft's (the
    last block of the comedy pass's system prompt)."""
    refined = re.match(r"Scene (\d+) scored lowest", prompt)
    if refined:
        return [int(refined.group(1))]
    draft = str(body["system"][-1]["text"])
    return sorted({int(n) for n in re.findall(r"^SCENE (\d+):", draft, re.M)})


def _longest(build: Callable[[int], JSON], chars: int) -> JSON:
    """``build(size)`` for the largest size whose JSON fits in ``chars``."""
    low, high = 1, 2000
    while low < high:
        mid = (low + high + 1) // 2
        if len(json.dumps(build(mid))) <= chars:
            low = mid
        else:
            high = mid - 1
    value = build(low)
    assert len(json.dumps(value)) <= chars
    return value


def _text(size: int, limit: int) -> str:
    return ("ha " * size)[: max(1, min(size, limit))].strip() or "ha"


def _outline(n: int) -> Callable[[int], JSON]:
    def build(size: int) -> JSON:
        scene = {
            "heading": _text(size, 120),
            "location": _text(size, 120),
            "time": _text(size, 40),
            "characters": ["DANA", "MARCUS"],
            "beat": _text(size, 1000),
            "comic_goal": _text(size, 500),
        }
        return {"title": _text(size, 120), "logline": _text(size, 500), "scenes": [scene] * n}

    return build


def _dialogue(size: int) -> JSON:
    line = {"character": "DANA", "parenthetical": None, "line": _text(size, 2000)}
    return {"lines": [line] * 24}


def _directions(size: int) -> JSON:
    return {
        "inserts": [
            {"after_line": n, "kind": "action", "text": _text(size, 2000)} for n in range(12)
        ]
    }


def _punch_up(scenes: list[int]) -> Callable[[int], JSON]:
    def build(size: int) -> JSON:
        jokes = [
            {"scene": s, "line": n, "kind": "one-liner", "score": 1, "note": _text(size, 500)}
            for s in scenes
            for n in range(1, 4)
        ]
        edits = [
            {"scene": s, "line": n, "new_text": _text(size * 2, 2000), "reason": "louder"}
            for n in range(1, 13)
            for s in scenes
        ]
        return {"analyzed_jokes": jokes, "edits": edits[:24]}

    return build


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic(responder=LongestAnswers()) as server:
        yield server


@pytest.fixture
async def generator(fake: FakeAnthropic) -> AsyncIterator[ScriptGenerator]:
    async with anthropic.AsyncAnthropic(api_key=KEY, base_url=fake.base_url) as client:
        yield ScriptGenerator(AnthropicProvider(client, MODEL), max_refine_scenes=2)


def _billed_input(usage: CallUsage) -> int:
    return usage.input_tokens + usage.cache_write_tokens + usage.cache_read_tokens


def _kind(key: str) -> str:
    """A refinement's key without its scene: which scenes are refined is known only after the
    comedy pass, so the bounds name the last ones and each round's bounds are alike."""
    return re.sub(r"^(refine:\d+):scene:\d+$", r"\1", key)


def _check_each_call(usages: list[CallUsage], bounds: list[CallBound]) -> None:
    """One call per bound (refinements matched by round), each billed within its bound."""
    assert sorted(_kind(u.step) for u in usages) == sorted(_kind(b.key) for b in bounds)
    by_kind: dict[str, CallBound] = {}
    for bound in bounds:
        kept = by_kind.setdefault(_kind(bound.key), bound)
        assert (kept.input_tokens, kept.output_tokens) == (bound.input_tokens, bound.output_tokens)
    for usage in usages:
        bound = by_kind[_kind(usage.step)]
        assert _billed_input(usage) <= bound.input_tokens, usage.step
        assert usage.output_tokens <= bound.output_tokens, usage.step


# -- an episode -------------------------------------------------------------------------------


async def test_an_episode_costs_at_most_its_estimate_call_by_call(
    fake: FakeAnthropic, generator: ScriptGenerator
) -> None:
    """Every call of a worst-case episode bills within its bound, and the whole within the
    estimate."""
    script = await generator.generate_full_script(REQUEST)
    bounds = episode_calls(REQUEST, generator.max_refinements, generator.max_refine_scenes)

    assert len(fake.requests) == len(script.usage) == len(bounds)  # one call per step
    _check_each_call(script.usage, bounds)
    estimate = estimate_episode(
        REQUEST, MODEL, generator.max_refinements, generator.max_refine_scenes
    )
    real = cost_of(script.usage)
    assert estimate is not None and real is not None
    assert real <= estimate


async def test_the_estimate_is_not_wildly_above_the_worst_case(
    generator: ScriptGenerator,
) -> None:
    """A bound four times the worst bill would lock budgets for nothing: output dominates both."""
    script = await generator.generate_full_script(REQUEST)
    estimate = estimate_episode(
        REQUEST, MODEL, generator.max_refinements, generator.max_refine_scenes
    )
    real = cost_of(script.usage)
    assert estimate is not None and real is not None
    assert estimate < 4 * real


async def test_an_episode_from_the_writers_outline_is_bounded_too(
    fake: FakeAnthropic, generator: ScriptGenerator
) -> None:
    """No outline call, and the outline's own text in every prompt's bound."""
    scene = SceneOutline(
        heading="INT. THE DAILY GRIND - DAY",
        location="The Daily Grind",
        time="DAY",
        characters=["DANA", "PRIYA"],
        beat="The parrot serves an eviction notice. " * 20,
        comic_goal="Dana negotiates with a bird. " * 12,
    )
    outline = Outline(title="Rent Bird", logline="A parrot raises the rent.", scenes=[scene] * 4)
    request = REQUEST.model_copy(update={"outline": outline, "scene_count": 4})
    script = await generator.generate_full_script(request)
    bounds = episode_calls(request, generator.max_refinements, generator.max_refine_scenes)

    assert "outline" not in {b.key for b in bounds}
    assert len(fake.requests) == len(bounds)
    _check_each_call(script.usage, bounds)


def test_an_episode_counts_every_step_it_can_make() -> None:
    """Outline, two calls a scene, the comedy pass, and each round's refinements at most."""
    keys = [b.key for b in episode_calls(REQUEST, max_refinements=2, max_refine_scenes=2)]
    assert keys == [
        "outline",
        "scene:1:dialogue",
        "scene:1:directions",
        "scene:2:dialogue",
        "scene:2:directions",
        "scene:3:dialogue",
        "scene:3:directions",
        "comedy",
        "refine:1:scene:2",
        "refine:1:scene:3",
        "refine:2:scene:2",
        "refine:2:scene:3",
    ]
    assert [b.output_tokens for b in episode_calls(REQUEST)][:3] == [1050, 2500, 1500]


def test_each_refinement_round_bounds_the_edits_of_the_rounds_before() -> None:
    """A later round quotes its scene with every earlier round's edits: its bound grows."""
    rounds = episode_calls(REQUEST, max_refinements=2, max_refine_scenes=1)[-2:]
    assert rounds[1].prompt_tokens - rounds[0].prompt_tokens >= rounds[0].output_tokens


def test_a_longer_episode_is_bounded_higher() -> None:
    """More scenes, more calls and longer quotes."""
    costs = [
        estimate_episode(REQUEST.model_copy(update={"scene_count": n}), MODEL) or 0.0
        for n in (1, 4, 12)
    ]
    assert 0 < costs[0] < costs[1] < costs[2]


def test_a_model_with_no_price_has_no_estimate() -> None:
    """None, not a guess; the demo model is free."""
    script = _script()
    assert estimate_episode(REQUEST, "gpt-9") is None
    assert estimate_rewrite(script, 0, "Louder.", 1, "gpt-9") is None
    assert estimate_episode(REQUEST, "showrunner-demo") == 0.0


def test_the_estimate_prices_the_cacheable_prefix_as_a_cache_write() -> None:
    """No cache discount: the prefix at 1.25x input, the prompt at 1x, the output at its price."""
    bound = CallBound("outline", prefix_tokens=1_000_000, prompt_tokens=1_000_000, output_tokens=0)
    assert bound_cost([bound], MODEL) == pytest.approx(3.0 * 1.25 + 3.0)
    output = CallBound("outline", prefix_tokens=0, prompt_tokens=0, output_tokens=1_000_000)
    assert bound_cost([output], MODEL) == pytest.approx(15.0)


@pytest.mark.parametrize(
    ("text", "at_least"),
    [("a" * 300, 100), ("日本語のテキスト" * 10, 80), ("🦜" * 10, 20)],
    ids=["ascii", "cjk", "emoji"],
)
def test_text_outside_ascii_is_bounded_by_its_bytes(text: str, at_least: int) -> None:
    """A premise in Japanese is about a token a character, not a quarter."""
    assert token_bound(text) >= at_least


def test_a_premise_in_japanese_is_bounded_higher_than_its_length_in_english() -> None:
    """Same characters, more tokens: the bound follows the bytes."""
    english = EpisodeRequest(premise="x" * 600, scene_count=1)
    japanese = EpisodeRequest(premise="鸚" * 600, scene_count=1)
    assert episode_calls(japanese)[0].input_tokens > episode_calls(english)[0].input_tokens


# -- a rewrite --------------------------------------------------------------------------------


def _script() -> Script:
    scene = SceneOutline(
        heading="INT. FLAT - NIGHT",
        location="Flat",
        time="NIGHT",
        characters=["DANA"],
        beat="Dana hides the parrot's will.",
        comic_goal="Hiding things from a bird.",
    )
    script = build_script(REQUEST)
    outline = Outline(title="Rent Bird", logline="A parrot raises the rent.", scenes=[scene] * 2)
    return script.model_copy(update={"outline": outline, "scenes": script.scenes * 2})


async def test_a_rewrite_costs_at_most_its_estimate_call_by_call(
    fake: FakeAnthropic, generator: ScriptGenerator
) -> None:
    """Each take's dialogue and directions bill within their bounds, the whole within the
    estimate."""
    script = await generator.generate_full_script(REQUEST)
    before = len(fake.requests)
    note = "Make the parrot the villain, and louder. " * 10
    takes = await generator.rewrite_scene(script, 1, note, takes=2)
    usages = [u for take in takes for u in take.usage]
    bounds = rewrite_calls(script, 1, note, 2)

    assert len(fake.requests) - before == len(usages) == len(bounds) == 4
    _check_each_call(usages, bounds)
    estimate = estimate_rewrite(script, 1, note, 2, MODEL)
    real = cost_of(usages)
    assert estimate is not None and real is not None
    assert real <= estimate


def test_more_takes_cost_more() -> None:
    """Each take is two more calls."""
    script = _script()
    one, three = (estimate_rewrite(script, 0, "Louder.", n, MODEL) for n in (1, 3))
    assert one is not None and three is not None
    assert three > 2.5 * one


@pytest.mark.parametrize(("index", "takes"), [(2, 1), (-1, 1), (0, 0)])
def test_a_rewrite_of_a_scene_that_is_not_there_is_refused(index: int, takes: int) -> None:
    """A negative index would silently size another scene: ValueError instead."""
    with pytest.raises(ValueError, match=r"scenes 1 to 2|at least one take"):
        rewrite_calls(_script(), index, "Louder.", takes)


# -- pricing several models -------------------------------------------------------------------


def test_cost_of_prices_each_model_at_its_own_rates() -> None:
    """A ledger mixing models costs each at its own price; one unknown model makes it unknown."""
    rows = [
        CallUsage(step="outline", model="claude-haiku-4-5", output_tokens=200_000),
        CallUsage(step="comedy", model="claude-opus-4-1", input_tokens=100_000),
        CallUsage(step="comedy", model="claude-haiku-4-5", cache_read_tokens=1_000_000),
    ]
    assert cost_of(rows) == pytest.approx(1.0 + 1.5 + 0.1)
    assert cost_of([*rows, CallUsage(step="x", model="gpt-9", output_tokens=1)]) is None
    assert cost_of([]) == 0.0
