"""The Anthropic provider's answers: validated by pydantic and the step's own rules, and sent
back once, in the same conversation, when they fail either. Over loopback on the fake API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest
from pydantic import BaseModel

from scriptgen.errors import InvalidOutputError
from scriptgen.models import ComedyReport, EpisodeRequest, Outline, SceneDialogue, StageDirections
from scriptgen.prompts import EPISODE_TOOLS, outline_step
from scriptgen.providers.anthropic import AnthropicProvider
from scriptgen.providers.base import StepFacts, StepRequest
from tests.fake_anthropic import FakeAnthropic, fill_schema

KEY = "sk-ant-test-key-0123456789"
EPISODE = EpisodeRequest(premise="A parrot inherits the building.", scene_count=3)


def step(output: type[BaseModel] = Outline, **fields: Any) -> StepRequest[Any]:
    values: dict[str, Any] = dict(
        kind="outline",
        key="outline",
        output=output,
        system="You write sitcoms.",
        shared_context=("SERIES BIBLE. Dana runs a coffee shop.", "OUTLINE. 1. The parrot."),
        prompt="Write it.",
        max_tokens=4000,
        facts=StepFacts(request=EPISODE),
    )
    return StepRequest(**(values | fields))


def valid_outline(scenes: int | None = None, seed: int = 1) -> dict[str, Any]:
    value: dict[str, Any] = fill_schema(Outline.model_json_schema(), seed)
    if scenes is not None:
        value["scenes"] = [value["scenes"][i % len(value["scenes"])] for i in range(scenes)]
    return value


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as server:
        yield server


@pytest.fixture
async def provider(fake: FakeAnthropic) -> AsyncIterator[AnthropicProvider]:
    async with anthropic.AsyncAnthropic(api_key=KEY, base_url=fake.base_url) as client:
        yield AnthropicProvider(client, "claude-test")


# -- schema validation -----------------------------------------------------------------------------


async def test_invalid_tool_input_is_sent_back_once_then_accepted(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    bad = {"title": "", "logline": "A parrot.", "scenes": [], "mood": "sunny"}
    fake.enqueue_tool_input(
        bad, usage={"input_tokens": 100, "output_tokens": 10, "cache_creation_input_tokens": 50}
    )
    fake.enqueue_tool_input(
        valid_outline(),
        usage={"input_tokens": 120, "output_tokens": 30, "cache_read_input_tokens": 50},
    )

    result = await provider.generate(step())

    assert result.value == Outline.model_validate(valid_outline())
    usage = result.usage
    assert (usage.input_tokens, usage.output_tokens) == (220, 40)
    assert (usage.cache_write_tokens, usage.cache_read_tokens, usage.retries) == (50, 50, 0)
    first, retry = fake.requests
    assert (retry.body["tools"], retry.body["system"]) == (
        first.body["tools"],
        first.body["system"],
    )  # the same cached prefix
    user, assistant, repair = retry.messages
    assert user == first.messages[0]
    [tool_use] = assistant["content"]
    assert (tool_use["type"], tool_use["name"], tool_use["input"]) == (
        "tool_use",
        "submit_outline",
        bad,
    )
    [result_block] = repair["content"]
    assert (result_block["tool_use_id"], result_block["is_error"]) == (tool_use["id"], True)
    for problem in (
        "title: String should have at least 1 character",
        "scenes: List should have at least 1 item",
        "mood: Extra inputs are not permitted",
    ):
        assert problem in result_block["content"]


async def test_invalid_twice_raises_naming_the_step(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.enqueue_tool_input({"lines": []})
    fake.enqueue_tool_input({"lines": [{"character": "Dana"}]})

    with pytest.raises(InvalidOutputError) as caught:
        await provider.generate(step(SceneDialogue, key="scene:3:dialogue"))

    assert str(caught.value).startswith(
        "scene:3:dialogue: the model's answer did not fit SceneDialogue"
    )
    assert "lines.0.line: Field required" in str(caught.value)
    assert len(fake.requests) == 2


async def test_a_text_reply_is_invalid_output(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.enqueue_text("Here is a lovely outline in prose instead.")

    result = await provider.generate(step())

    assert isinstance(result.value, Outline)
    _, assistant, repair = fake.requests[1].messages
    assert assistant["content"] == [
        {"type": "text", "text": "Here is a lovely outline in prose instead."}
    ]
    assert "did not call the tool submit_outline" in repair["content"][0]["text"]


async def test_an_answer_cut_off_by_max_tokens_is_invalid(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    with pytest.raises(InvalidOutputError, match=r"cut off at the max_tokens limit \(20\)"):
        await provider.generate(step(max_tokens=20))

    assert len(fake.requests) == 2


# -- the step's own rules (StepRequest.check) ------------------------------------------------------


async def test_a_failed_check_is_sent_back_with_its_message_then_accepted(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.enqueue_tool_input(valid_outline(scenes=2), match="write_outline")
    fake.enqueue_tool_input(valid_outline(scenes=3, seed=2), match="write_outline")

    result = await provider.generate(outline_step(EPISODE))

    assert len(result.value.scenes) == 3
    assert result.value == Outline.model_validate(valid_outline(scenes=3, seed=2))
    first, retry = fake.requests
    assert retry.body["tools"] == first.body["tools"]
    assert retry.declared_tools == [t.name for t in EPISODE_TOOLS]
    _, assistant, repair = retry.messages
    [tool_use] = assistant["content"]
    assert (tool_use["name"], tool_use["input"]) == ("write_outline", valid_outline(scenes=2))
    [result_block] = repair["content"]
    assert (result_block["tool_use_id"], result_block["is_error"]) == (tool_use["id"], True)
    assert result_block["content"] == (
        "The input to write_outline was rejected:\n"
        "- the outline must have exactly 3 scenes, not 2\n"
        "Call write_outline again with the complete, corrected input."
    )


async def test_a_check_failing_twice_raises_invalid_output(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.enqueue_tool_input(valid_outline(scenes=2), match="write_outline")
    fake.enqueue_tool_input(valid_outline(scenes=4), match="write_outline")

    with pytest.raises(InvalidOutputError) as caught:
        await provider.generate(outline_step(EPISODE))

    assert str(caught.value) == (
        "outline: the model's answer did not fit Outline, even when asked again: "
        "the outline must have exactly 3 scenes, not 4"
    )
    assert len(fake.requests) == 2
    assert "exactly 3 scenes, not 2" in fake.requests[1].last_user_text


async def test_a_check_runs_only_on_schema_valid_answers(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    checked: list[Outline] = []
    fake.enqueue_tool_input({"title": "No scenes"})

    await provider.generate(step(check=checked.append))

    assert len(fake.requests) == 2
    assert [type(value) for value in checked] == [Outline]


# -- the fake's schema filler ----------------------------------------------------------------------


@pytest.mark.parametrize("model", [Outline, SceneDialogue, StageDirections, ComedyReport])
def test_schema_filler_makes_valid_step_outputs(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    values = [fill_schema(schema, seed) for seed in range(50)]

    for value in values:
        model.model_validate(value)
    assert values[0] == fill_schema(schema, 0)  # deterministic per seed
    assert len({repr(v) for v in values}) > 40  # and varied across seeds
