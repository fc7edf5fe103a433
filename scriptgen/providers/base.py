"""The contract every language-model provider meets: structured generation into a pydantic model.

A step (the outline, a scene's dialogue...) is described once as a :class:`StepRequest`: the
prose prompt for a real model, split into a shared prefix that many calls of an episode repeat
(system prompt, series bible, outline: cacheable) and the step's own instructions; the tools the
calls of an episode all declare (the same list every time, so that prefix stays cacheable too);
and the structured facts the prose was built from, for providers that do not read prose (the
demo).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel

from scriptgen.models import CallUsage, EpisodeRequest, Outline, Scene, SceneDialogue

OutputT = TypeVar("OutputT", bound=BaseModel)

StepKind = Literal["outline", "dialogue", "directions", "comedy", "refine"]


@dataclass(frozen=True)
class StepFacts:
    """What a step is about, as data."""

    request: EpisodeRequest
    outline: Outline | None = None
    scene_index: int | None = None
    """0-based index of the scene the step works on, for scene steps."""
    dialogue: SceneDialogue | None = None
    scenes: Sequence[Scene] = ()
    """The whole script so far, for the comedy and refinement passes and for rewrites."""
    note: str | None = None
    """A writer's note on the scene, for a rewrite: what the new version must change."""
    take: int | None = None
    """Which of a rewrite's alternative takes (1-based) the step writes."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool a model may be asked to call: its input is an instance of ``output``."""

    name: str
    description: str
    output: type[BaseModel]


@dataclass(frozen=True)
class StepRequest(Generic[OutputT]):
    kind: StepKind
    key: str
    """Unique within an episode, e.g. ``scene:3:dialogue``; checkpoints are stored under it."""
    output: type[OutputT]
    system: str
    shared_context: Sequence[str]
    """Blocks every call of the episode repeats in this order, from the most widely shared (the
    series bible) to the least (the outline); providers may cache them."""
    prompt: str
    max_tokens: int
    facts: StepFacts
    tool_name: str = field(default="")
    tool_description: str = field(default="")
    tools: Sequence[ToolSpec] = ()
    """Every tool the calls of the episode declare, in a fixed order, the same for every step
    (a provider that caches prefixes needs them identical). The step's own tool (``tool_name``)
    is one of them and is the one the model is made to call. Empty: just the step's own tool."""
    check: Callable[[OutputT], None] | None = None
    """Rules the schema cannot say (e.g. the outline has exactly the scenes asked for). It raises
    ``ValueError`` with a message for the model; providers treat that like a validation error."""
    after: tuple[str, ...] = ()
    """The keys of the steps this one was built from. A checkpoint of this step is reused only
    when each of them was reused (or given) in the same run: a step never stands on an answer
    that was written again (directions on a new dialogue, scenes on a new outline)."""
    on_partial: Callable[[Any], None] | None = field(default=None, compare=False)
    """Told the answer as it streams, if the provider streams (it may never call it): the tool
    input so far as JSON data, parsed leniently, so every object and list in it is whole except
    the last one open at the end (a list's last item may be cut short). A new attempt of the
    same call starts again from an empty object. Called on the event loop, it must not block;
    the answer :meth:`Provider.generate` returns is still the only one validated."""


@dataclass(frozen=True)
class Generation(Generic[OutputT]):
    value: OutputT
    usage: CallUsage


class Provider(Protocol):
    """Turns a step into a validated model, reporting what the call cost."""

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str: ...

    async def generate(self, step: StepRequest[OutputT]) -> Generation[OutputT]:
        """Run one call.

        Raises :class:`~scriptgen.errors.ProviderError` when the call fails and
        :class:`~scriptgen.errors.InvalidOutputError` when its answer cannot be validated.
        """
        ...


_first_token: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "scriptgen_first_token", default=None
)


def first_token() -> None:
    """A streaming provider's word that the running call's answer has begun (its first
    token): the monitor times the wait for it. A provider calls it on every attempt; outside a
    timed call it does nothing."""
    hook = _first_token.get()
    if hook is not None:
        hook()


class reporting_first_token:  # lower case, as contextlib.suppress: it reads as a call
    """Make ``hook`` what :func:`first_token` calls, for the code run inside (this task only:
    a context variable, so concurrent calls each report to their own step). A class rather
    than a ``@contextmanager`` generator: it is entered around every model call."""

    __slots__ = ("_hook", "_token")

    def __init__(self, hook: Callable[[], None]) -> None:
        self._hook = hook

    def __enter__(self) -> None:
        self._token = _first_token.set(self._hook)

    def __exit__(self, *exc: object) -> None:
        _first_token.reset(self._token)
