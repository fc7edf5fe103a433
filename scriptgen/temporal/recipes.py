"""A step as data, so it can cross from a workflow to the activity that makes its model call.

A :class:`~scriptgen.providers.base.StepRequest` holds a type (``output``) and callables
(``check``, ``on_partial``), which no payload carries. Its other fields are data already, so a
:class:`StepRecipe` carries them as they are, and :func:`step_of` gives back the same step: the
output type is the one of the step's tool (every step names one of :data:`~scriptgen.prompts.
EPISODE_TOOLS`), and the check is rebuilt from the step's facts by the builder that made it.
``on_partial`` stays behind: an activity answers once, at the end, so a workflow's outline does
not stream (its scenes begin when it is finished).

Sending the rendered prompt instead of a builder's name and arguments keeps one way of making a
prompt (:mod:`scriptgen.prompts`, run in the workflow), at the cost of a larger payload; the
comedy pass's, the largest, is the script twice (prompt and facts), well under Temporal's
2 MB per payload for any episode Discord can deliver.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from scriptgen import prompts
from scriptgen.models import EpisodeRequest, Outline, Scene, SceneDialogue
from scriptgen.providers.base import StepFacts, StepKind, StepRequest, ToolSpec

__all__ = ["FactsRecipe", "StepRecipe", "recipe_of", "step_of"]

_TOOLS: dict[str, ToolSpec] = {tool.name: tool for tool in prompts.EPISODE_TOOLS}


class FactsRecipe(BaseModel):
    """:class:`~scriptgen.providers.base.StepFacts` as a payload (a field added there and not
    here is refused, not dropped)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request: EpisodeRequest
    outline: Outline | None = None
    scene_index: int | None = None
    dialogue: SceneDialogue | None = None
    scenes: tuple[Scene, ...] = ()
    note: str | None = None
    take: int | None = None


class StepRecipe(BaseModel):
    """Everything of a step but its callables, by value."""

    model_config = ConfigDict(frozen=True)

    kind: StepKind
    key: str
    tool_name: str
    tool_description: str
    system: str
    shared_context: tuple[str, ...]
    prompt: str
    max_tokens: int
    facts: FactsRecipe
    tools: tuple[str, ...]
    after: tuple[str, ...] = ()


def recipe_of(step: StepRequest[Any]) -> StepRecipe:
    """The step as data. Raises ``ValueError`` for a tool :func:`step_of` would not know."""
    names = tuple(tool.name for tool in step.tools)
    unknown = [name for name in (step.tool_name, *names) if name not in _TOOLS]
    if unknown:
        raise ValueError(f"step {step.key} names tools no recipe knows: {', '.join(unknown)}")
    facts = {f.name: getattr(step.facts, f.name) for f in dataclasses.fields(step.facts)}
    return StepRecipe(
        kind=step.kind,
        key=step.key,
        tool_name=step.tool_name,
        tool_description=step.tool_description,
        system=step.system,
        shared_context=tuple(step.shared_context),
        prompt=step.prompt,
        max_tokens=step.max_tokens,
        facts=FactsRecipe(**facts),
        tools=names,
        after=step.after,
    )


def step_of(recipe: StepRecipe) -> StepRequest[Any]:
    """The step the recipe was made from, its check included (``on_partial`` is not)."""
    facts = StepFacts(**dict(recipe.facts))
    return StepRequest(
        kind=recipe.kind,
        key=recipe.key,
        output=_TOOLS[recipe.tool_name].output,
        system=recipe.system,
        shared_context=recipe.shared_context,
        prompt=recipe.prompt,
        max_tokens=recipe.max_tokens,
        facts=facts,
        tool_name=recipe.tool_name,
        tool_description=recipe.tool_description,
        tools=tuple(_TOOLS[name] for name in recipe.tools),
        check=_check(recipe.kind, facts),
        after=recipe.after,
    )


def _check(kind: StepKind, facts: StepFacts) -> Callable[[Any], None] | None:
    """The step's check, from the builder that gives it one: only the outline has one (its
    scene count), and a check added to another builder must be added here too (a test asks)."""
    if kind == "outline":
        return prompts.outline_step(facts.request).check
    return None
