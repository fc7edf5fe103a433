"""The Anthropic provider's request layout and prompt caching, over loopback on the fake API.

The fake follows the API's caching rules (tools, then system, then messages; writes only at
marks; a 20-block lookback; a minimum cacheable length; tool_choice keying message blocks
only), so these tests show what an episode would be billed for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import anthropic
import pytest
from pydantic import BaseModel

from scriptgen.comedy import apply_edits, weave
from scriptgen.models import (
    CallUsage,
    Character,
    EpisodeRequest,
    LineEdit,
    Outline,
    SceneDialogue,
    SeriesBible,
    StageDirections,
)
from scriptgen.prompts import (
    EPISODE_TOOLS,
    SYSTEM_PROMPT,
    comedy_step,
    dialogue_step,
    outline_step,
    refine_step,
    render_draft,
)
from scriptgen.providers.anthropic import AnthropicProvider
from scriptgen.providers.base import Generation, StepFacts, StepRequest, ToolSpec
from tests.fake_anthropic import FakeAnthropic, estimate_tokens, fill_schema

KEY = "sk-ant-test-key-0123456789"
EPHEMERAL = {"type": "ephemeral"}
MIN_CACHEABLE = 2048
"""As for a model whose minimum cacheable prompt is 2,048 tokens: the episode's tools and system
prompt alone (about 1,300 estimated tokens) fall short of it, the series bible takes it over."""
TOOL_NAMES = ["write_outline", "write_dialogue", "add_stage_directions", "punch_up"]

BIBLE = SeriesBible(
    show_title="Grounds for Dismissal",
    logline="Two siblings run a failing coffee shop in a building owned by a litigious parrot.",
    setting="The Daily Grind, a narrow coffee shop in a damp corner of Leeds, and the flat above.",
    tone="Warm, fast, character-driven; no cruelty that the episode does not pay for.",
    characters=[
        Character(
            name=name,
            traits=["stubborn", "hopeful", "bad with money"],
            voice=f"{name} talks in {style}; " + "never finishes a plan before starting it. " * 5,
        )
        for name, style in [
            ("DANA", "clipped lists and sighs"),
            ("MARCUS", "long borrowed metaphors"),
            ("PRIYA", "legal jargon used wrongly"),
            ("GUS", "one-word answers and long pauses"),
            ("MRS. OKAFOR", "proverbs she invents on the spot"),
        ]
    ],
    running_gags=[
        "The espresso machine only works when nobody is looking at it.",
        "Marcus owes everyone exactly four pounds.",
        "Priya's business cards have a different job title every week.",
    ],
    previous_episodes=[
        f"Episode {n}: Dana tries a new scheme to save the shop ({scheme}); Marcus makes it "
        "worse, Priya threatens to sue someone, and the parrot wins again. "
        + "The regulars take sides and the shop survives by accident. "
        * 3
        for n, scheme in enumerate(
            ["open mic night", "a loyalty card", "a cat cafe", "a pop-up brunch", "a quiz"], 1
        )
    ],
)
EPISODE = EpisodeRequest(
    premise="The parrot inherits the building and raises the rent.", scene_count=3, bible=BIBLE
)


def usage_row(usage: CallUsage) -> tuple[int, int, int]:
    return usage.cache_write_tokens, usage.cache_read_tokens, usage.input_tokens


def outline_answer(scenes: int, seed: int = 1) -> dict[str, Any]:
    value: dict[str, Any] = fill_schema(Outline.model_json_schema(), seed)
    value["scenes"] = [value["scenes"][i % len(value["scenes"])] for i in range(scenes)]
    return value


def step(output: type[BaseModel] = Outline, **fields: Any) -> StepRequest[Any]:
    request = EpisodeRequest(premise="A parrot inherits the building.")
    values: dict[str, Any] = dict(
        kind="outline",
        key="outline",
        output=output,
        system="You write sitcoms.",
        shared_context=("SERIES BIBLE. Dana runs a coffee shop.", "OUTLINE. 1. The parrot."),
        prompt="Write it.",
        max_tokens=4000,
        facts=StepFacts(request=request),
    )
    return StepRequest(**(values | fields))


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic(min_cacheable_tokens=MIN_CACHEABLE) as server:
        yield server


@pytest.fixture
async def provider(fake: FakeAnthropic) -> AsyncIterator[AnthropicProvider]:
    async with anthropic.AsyncAnthropic(api_key=KEY, base_url=fake.base_url) as client:
        yield AnthropicProvider(client, "claude-test")


# -- the layout -----------------------------------------------------------------------------------


async def test_a_step_is_streamed_with_its_context_in_marked_system_blocks(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    result = await provider.generate(step())

    assert isinstance(result.value, Outline)
    assert (result.usage.step, result.usage.model, result.usage.retries) == (
        "outline",
        "claude-test",
        0,
    )
    [request] = fake.requests
    body = request.body
    assert (body["stream"], body["model"]) == (True, "claude-test")
    assert request.headers["x-stainless-retry-count"] == "0"
    assert body["tool_choice"] == {"type": "tool", "name": "submit_outline"}
    [tool] = body["tools"]  # no episode tools given: just the step's own
    assert (tool["name"], tool["input_schema"]) == ("submit_outline", Outline.model_json_schema())
    assert request.system_blocks == [
        {"type": "text", "text": "You write sitcoms.", "cache_control": EPHEMERAL},
        {
            "type": "text",
            "text": "SERIES BIBLE. Dana runs a coffee shop.",
            "cache_control": EPHEMERAL,
        },
        {"type": "text", "text": "OUTLINE. 1. The parrot.", "cache_control": EPHEMERAL},
    ]
    assert request.user_blocks() == [{"type": "text", "text": "Write it."}]


async def test_without_shared_context_the_system_prompt_carries_the_cache_mark(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    await provider.generate(step(SceneDialogue, shared_context=()))

    request = fake.requests[0]
    assert request.system_blocks == [
        {"type": "text", "text": "You write sitcoms.", "cache_control": EPHEMERAL}
    ]
    assert request.user_blocks() == [{"type": "text", "text": "Write it."}]
    assert request.declared_tools == ["submit_scene_dialogue"]


async def test_the_episode_tools_are_all_declared_and_the_steps_own_is_forced(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    result = await provider.generate(
        step(SceneDialogue, tool_name="write_dialogue", tools=EPISODE_TOOLS)
    )

    assert isinstance(result.value, SceneDialogue)
    body = fake.requests[0].body
    assert fake.requests[0].declared_tools == TOOL_NAMES
    assert body["tool_choice"] == {"type": "tool", "name": "write_dialogue"}
    assert [t["input_schema"] for t in body["tools"]] == [
        t.output.model_json_schema() for t in EPISODE_TOOLS
    ]


@pytest.mark.parametrize(
    "tools",
    [
        (ToolSpec("write_outline", "Outline.", Outline),),
        (ToolSpec("write_dialogue", "The wrong model.", StageDirections),),
    ],
    ids=["not-declared", "other-output"],
)
async def test_a_step_must_declare_its_own_tool(
    fake: FakeAnthropic, provider: AnthropicProvider, tools: tuple[ToolSpec, ...]
) -> None:
    with pytest.raises(ValueError, match="must be one of the tools it declares"):
        await provider.generate(step(SceneDialogue, tool_name="write_dialogue", tools=tools))

    assert fake.requests == []


async def test_at_most_four_blocks_are_marked_the_narrowest_prefixes(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    await provider.generate(step(shared_context=("A.", "B.", "C.", "D.", "E.")))

    marked = [b["text"] for b in fake.requests[0].system_blocks if "cache_control" in b]
    assert marked == ["B.", "C.", "D.", "E."]  # not the system prompt: the API allows four


# -- caching across an episode --------------------------------------------------------------------


async def test_every_call_of_an_episode_after_the_outline_reads_the_shared_prefix(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.enqueue_tool_input(outline_answer(3), match="write_outline")

    outline_call = await provider.generate(outline_step(EPISODE))
    outline = outline_call.value
    scene_calls = await asyncio.gather(  # in parallel, as the generator runs them
        *(provider.generate(dialogue_step(EPISODE, outline, i)) for i in range(3))
    )
    scenes = [
        weave(outline.scenes[i].heading, call.value, StageDirections(inserts=[]))
        for i, call in enumerate(scene_calls)
    ]
    comedy_call = await provider.generate(comedy_step(EPISODE, outline, scenes))
    edited = apply_edits(scenes, [LineEdit(scene=3, line=2, new_text="A sharper line.")]).scenes
    refine_call = await provider.generate(refine_step(EPISODE, outline, scenes, edited, 2, 1))

    # Every request declares the same tools, byte for byte, and forces its own.
    assert all(r.body["tools"] == fake.requests[0].body["tools"] for r in fake.requests)
    assert fake.requests[0].declared_tools == TOOL_NAMES
    assert [r.tool_name for r in fake.requests] == [
        "write_outline",
        *["write_dialogue"] * 3,
        "punch_up",
        "punch_up",
    ]
    # The shared prefix is system blocks, the same for every call, the outline's extending
    # the outline call's, the draft (last, and marked) the scenes'.
    first = fake.requests[0].system_blocks
    assert [b["text"] for b in first[:1]] == [SYSTEM_PROMPT]
    texts = [b["text"] for b in first]
    assert all([b["text"] for b in r.system_blocks[: len(first)]] == texts for r in fake.requests)
    assert all(r.system_blocks == fake.requests[1].system_blocks for r in fake.requests[1:4])
    draft = {"type": "text", "text": render_draft(scenes), "cache_control": EPHEMERAL}
    scene_texts = [b["text"] for b in fake.requests[1].system_blocks]
    for punch_up in fake.requests[4:]:
        assert [b["text"] for b in punch_up.system_blocks[:-1]] == scene_texts
        assert punch_up.system_blocks[-1] == draft
    assert "SCENE" not in fake.requests[4].last_user_text
    # The refinement is told, of its scene, only the element changed since the draft.
    assert "punched up:\n  2. " in fake.requests[5].last_user_text
    assert "A sharper line." in fake.requests[5].last_user_text
    assert "  1. " not in fake.requests[5].last_user_text

    calls: list[Generation[Any]] = [outline_call, *scene_calls, comedy_call, refine_call]
    print("\ncall                 cache write  cache read  input")
    for call in calls:
        print(
            f"{call.usage.step:<20} {call.usage.cache_write_tokens:>11}"
            f" {call.usage.cache_read_tokens:>11} {call.usage.input_tokens:>6}"
        )
    episode_prefix = outline_call.usage.cache_write_tokens
    assert episode_prefix >= MIN_CACHEABLE
    assert outline_call.usage.cache_read_tokens == 0
    outline_tokens = estimate_tokens(fake.requests[1].system_blocks[-1]["text"])
    for call in scene_calls:  # read what the outline call wrote; the outline itself once each
        written, read, _ = usage_row(call.usage)
        assert read >= episode_prefix
        assert written + read == episode_prefix + outline_tokens
    # The comedy pass writes the draft; the refinement reads it, and is sent only its prompt.
    draft_tokens = estimate_tokens(render_draft(scenes))
    assert usage_row(comedy_call.usage)[:2] == (draft_tokens, episode_prefix + outline_tokens)
    assert usage_row(refine_call.usage)[:2] == (0, episode_prefix + outline_tokens + draft_tokens)
    assert all(call.usage.cache_read_tokens > 0 for call in calls[1:])


async def test_the_next_episode_of_the_show_reads_the_tools_system_prompt_and_bible(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.enqueue_tool_input(outline_answer(3), match="write_outline")
    fake.enqueue_tool_input(outline_answer(3), match="write_outline")
    next_episode = EPISODE.model_copy(update={"premise": "Marcus opens a rival shop next door."})

    first = await provider.generate(outline_step(EPISODE))
    second = await provider.generate(outline_step(next_episode))

    premises = [estimate_tokens(r.system_blocks[-1]["text"]) for r in fake.requests]
    show_prefix = first.usage.cache_write_tokens - premises[0]
    assert usage_row(second.usage)[:2] == (premises[1], show_prefix)


async def test_a_prefix_below_the_minimum_is_not_cached(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    no_bible = EPISODE.model_copy(update={"bible": None})
    fake.enqueue_tool_input(outline_answer(3), match="write_outline")
    fake.enqueue_tool_input(outline_answer(3), match="write_outline")

    calls = [await provider.generate(outline_step(no_bible)) for _ in range(2)]

    assert [usage_row(c.usage)[:2] for c in calls] == [(0, 0), (0, 0)]
    assert 0 < calls[0].usage.input_tokens < MIN_CACHEABLE


# -- the fake's caching rules ---------------------------------------------------------------------


async def test_the_fakes_cache_looks_back_twenty_blocks_and_keys_messages_on_tool_choice() -> None:
    tools = [{"name": name, "input_schema": {"type": "object"}} for name in ("t", "u")]
    system = [{"type": "text", "text": "S" * 400, "cache_control": EPHEMERAL}]
    block_tokens = estimate_tokens("user" + "B00 " * 50)

    def turn(count: int) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = [
            {"type": "text", "text": f"B{i:02d} " * 50} for i in range(count)
        ]
        blocks[-1]["cache_control"] = EPHEMERAL
        return [{"role": "user", "content": blocks}]

    async with (
        FakeAnthropic() as fake,
        anthropic.AsyncAnthropic(api_key=KEY, base_url=fake.base_url) as client,
    ):

        async def cache(blocks: int, choice: str = "t") -> tuple[int, int]:
            answer = await client.messages.create(
                model="m",
                max_tokens=50,
                tools=cast(Any, tools),
                tool_choice={"type": "tool", "name": choice},
                system=cast(Any, system),
                messages=cast(Any, turn(blocks)),
            )
            usage = answer.usage
            return usage.cache_creation_input_tokens or 0, usage.cache_read_input_tokens or 0

        written, read = await cache(3)
        system_prefix = written - 3 * block_tokens
        assert read == 0
        # One more block, marked: the lookback finds the entry the first request wrote.
        assert await cache(4) == (block_tokens, written)
        # Marked 25 blocks on: that entry is beyond the 20-block lookback; only the system
        # prompt's own mark still reads.
        assert await cache(25) == (25 * block_tokens, system_prefix)
        # Another tool choice: the system prefix still reads, the message prefixes do not.
        assert await cache(4, choice="u") == (4 * block_tokens, system_prefix)
