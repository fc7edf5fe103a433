"""Every step the pipeline makes crosses to an activity as data and comes back the same step."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from scriptgen import prompts
from scriptgen.generator import ScriptGenerator
from scriptgen.models import EpisodeRequest, Outline
from scriptgen.providers.base import Generation, OutputT, StepRequest
from scriptgen.providers.demo import DemoProvider
from scriptgen.temporal import StepRecipe, recipe_of, step_of


class Recording(DemoProvider):
    def __init__(self) -> None:
        # Latency, so the outline streams and scenes begin on it (steps made by ``early``).
        super().__init__(time_to_first_token=0.01, seconds_per_token=0.0)
        self.steps: list[StepRequest[Any]] = []

    async def generate(self, step: StepRequest[OutputT]) -> Generation[OutputT]:
        self.steps.append(step)
        return await super().generate(step)


def comparable(step: StepRequest[Any]) -> dict[str, Any]:
    """The step's fields, sequences as tuples; the callables apart (compared by behaviour)."""
    fields = {f.name: getattr(step, f.name) for f in dataclasses.fields(step)}
    del fields["check"], fields["on_partial"]
    fields["shared_context"] = tuple(step.shared_context)
    fields["tools"] = tuple(step.tools)
    fields["facts"] = dataclasses.replace(step.facts, scenes=tuple(step.facts.scenes))
    return fields


async def every_kind_of_step() -> list[StepRequest[Any]]:
    provider = Recording()
    # A threshold no score reaches: the refinement round always runs.
    generator = ScriptGenerator(provider, 2, refine_threshold=10.5)
    request = EpisodeRequest(premise="A mime runs for city council", scene_count=3)
    script = await generator.generate_full_script(request)
    await generator.rewrite_scene(script, 1, "make the mime speak once", takes=2)
    return provider.steps


async def test_every_step_survives_the_trip() -> None:
    """Outline, early and late scene steps, comedy, refinement and rewrite steps: all equal."""
    steps = await every_kind_of_step()
    assert {s.kind for s in steps} == {"outline", "dialogue", "directions", "comedy", "refine"}
    assert any(s.key.startswith("take:2:") for s in steps)
    assert any("still being written" in s.prompt for s in steps if s.kind == "dialogue")
    for step in steps:
        recipe = StepRecipe.model_validate_json(recipe_of(step).model_dump_json())
        again = step_of(recipe)
        assert comparable(again) == comparable(step), step.key
        assert (again.check is None) == (step.check is None), step.key


async def test_the_outline_check_is_rebuilt() -> None:
    """The outline's scene-count rule holds in the activity as it does in the workflow."""
    request = EpisodeRequest(premise="A mime runs for city council", scene_count=3)
    step = prompts.outline_step(request)
    outline = (await DemoProvider(time_to_first_token=0).generate(step)).value
    short = Outline(title=outline.title, logline=outline.logline, scenes=outline.scenes[:2])
    again = step_of(recipe_of(step))
    assert again.check is not None and step.check is not None
    again.check(outline)
    with pytest.raises(ValueError, match="exactly 3 scenes, not 2"):
        again.check(short)


def test_a_step_with_an_unknown_tool_is_refused() -> None:
    step = prompts.outline_step(EpisodeRequest(premise="A mime", scene_count=1))
    odd = dataclasses.replace(step, tool_name="write_sonnet")
    with pytest.raises(ValueError, match="write_sonnet"):
        recipe_of(odd)
