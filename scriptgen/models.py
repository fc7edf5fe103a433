"""The data of an episode, from the writer's request to the finished script.

Every model forbids unknown fields: the same classes validate what a language model returns
(as tool input), so a misspelt field is an error to report back, not data silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_PREMISE_CHARS = 2000
MAX_SCENES = 12


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- the series ---------------------------------------------------------------------------------


class Character(_Model):
    name: str = Field(min_length=1, max_length=60)
    description: str = Field(default="", max_length=300, description="Who they are.")
    voice: str = Field(default="", max_length=300, description="How they talk.")
    traits: list[str] = Field(default_factory=list, max_length=12)


class SeriesBible(_Model):
    """What keeps a show in character and in continuity across episodes."""

    show_title: str = Field(default="", max_length=120)
    logline: str = Field(default="", max_length=500)
    setting: str = Field(default="", max_length=1000)
    tone: str = Field(default="", max_length=200)
    characters: list[Character] = Field(default_factory=list, max_length=20)
    running_gags: list[str] = Field(default_factory=list, max_length=20)
    previous_episodes: list[str] = Field(
        default_factory=list, max_length=20, description="One-paragraph summaries, oldest first."
    )


# -- the outline and the request ---------------------------------------------------------------


class SceneOutline(_Model):
    heading: str = Field(min_length=1, max_length=120, description="e.g. INT. COFFEE SHOP - DAY")
    location: str = Field(min_length=1, max_length=120)
    time: str = Field(min_length=1, max_length=40, description="DAY, NIGHT, LATER...")
    characters: list[str] = Field(min_length=1, max_length=10)
    beat: str = Field(min_length=1, max_length=1000, description="What happens.")
    comic_goal: str = Field(min_length=1, max_length=500, description="Why it is funny.")


class Outline(_Model):
    title: str = Field(min_length=1, max_length=120)
    logline: str = Field(min_length=1, max_length=500)
    scenes: list[SceneOutline] = Field(min_length=1, max_length=MAX_SCENES)


class EpisodeRequest(_Model):
    premise: str = Field(min_length=1, max_length=MAX_PREMISE_CHARS)
    scene_count: int = Field(default=4, ge=1, le=MAX_SCENES)
    title: str | None = Field(default=None, max_length=120)
    tone: str | None = Field(default=None, max_length=200)
    bible: SeriesBible | None = None
    outline: Outline | None = Field(
        default=None,
        description="An outline the writers approved or edited: the generator writes from it "
        "and never asks the model for one.",
    )

    @field_validator("premise")
    @classmethod
    def _premise_has_words(cls, value: str) -> str:
        value = value.strip()
        if not any(ch.isalnum() for ch in value):
            raise ValueError("the premise needs some words: what is the episode about?")
        return value

    @field_validator("title", "tone")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _scene_count_of_the_outline(self) -> EpisodeRequest:
        # Writers may add or cut scenes when they edit the outline: the outline is the truth.
        if self.outline is not None:
            self.scene_count = len(self.outline.scenes)
        return self


# -- scenes -------------------------------------------------------------------------------------


class DialogueLine(_Model):
    character: str = Field(min_length=1, max_length=60)
    parenthetical: str | None = Field(default=None, max_length=120)
    line: str = Field(min_length=1, max_length=2000)


class SceneDialogue(_Model):
    """The first pass on a scene: who says what, in order."""

    lines: list[DialogueLine] = Field(min_length=1, max_length=120)


class DirectionInsert(_Model):
    after_line: int = Field(
        ge=0, description="Insert after this dialogue line (1-based); 0 puts it before the first."
    )
    kind: Literal["action", "transition"]
    text: str = Field(min_length=1, max_length=2000)


class StageDirections(_Model):
    """The second pass: action and transitions woven between the existing lines.

    Returned as inserts rather than a rewritten scene so the call emits only new text: output
    tokens are what an episode's critical path is made of.
    """

    inserts: list[DirectionInsert] = Field(max_length=120)


class Action(_Model):
    kind: Literal["action"] = "action"
    text: str = Field(min_length=1)


class Dialogue(_Model):
    kind: Literal["dialogue"] = "dialogue"
    character: str = Field(min_length=1)
    parenthetical: str | None = None
    line: str = Field(min_length=1)


class Transition(_Model):
    kind: Literal["transition"] = "transition"
    text: str = Field(min_length=1)


SceneElement = Annotated[Action | Dialogue | Transition, Field(discriminator="kind")]


class Scene(_Model):
    heading: str
    elements: list[SceneElement]


# -- the comedy pass ----------------------------------------------------------------------------

JokeKind = Literal[
    "one-liner",
    "callback",
    "running-gag",
    "physical",
    "misdirection",
    "irony",
    "character",
    "other",
]


class AnalyzedJoke(_Model):
    scene: int = Field(ge=1, description="1-based scene number.")
    line: int = Field(ge=1, description="1-based element number within the scene.")
    kind: JokeKind
    score: int = Field(ge=1, le=10)
    note: str = Field(default="", max_length=500)


class LineEdit(_Model):
    scene: int = Field(ge=1)
    line: int = Field(ge=1)
    new_text: str = Field(min_length=1, max_length=2000)
    reason: str = Field(default="", max_length=300)


class ComedyReport(_Model):
    analyzed_jokes: list[AnalyzedJoke] = Field(max_length=300)
    edits: list[LineEdit] = Field(max_length=100, description="Targeted punch-ups, not rewrites.")

    @property
    def mean_score(self) -> float | None:
        if not self.analyzed_jokes:
            return None
        return sum(j.score for j in self.analyzed_jokes) / len(self.analyzed_jokes)


# -- usage and the finished script --------------------------------------------------------------


class CallUsage(_Model):
    step: str = Field(description="The step's key, e.g. 'scene:2:dialogue'.")
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    latency_s: float = 0.0
    retries: int = 0


class UsageTotals(_Model):
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    call_seconds: float = Field(default=0.0, description="Sum of the calls' own durations.")

    @classmethod
    def of(cls, calls: list[CallUsage]) -> UsageTotals:
        return cls(
            calls=len(calls),
            input_tokens=sum(c.input_tokens for c in calls),
            output_tokens=sum(c.output_tokens for c in calls),
            cache_write_tokens=sum(c.cache_write_tokens for c in calls),
            cache_read_tokens=sum(c.cache_read_tokens for c in calls),
            call_seconds=sum(c.latency_s for c in calls),
        )


class Script(_Model):
    request: EpisodeRequest
    outline: Outline
    scenes: list[Scene]
    comedy: ComedyReport
    refinements: list[ComedyReport] = Field(default_factory=list)
    usage: list[CallUsage] = Field(default_factory=list)
    provider: str
    model: str
    wall_seconds: float = 0.0

    @property
    def title(self) -> str:
        return self.request.title or self.outline.title

    @property
    def totals(self) -> UsageTotals:
        return UsageTotals.of(self.usage)

    def replace_scene(self, index: int, scene: Scene, usage: Sequence[CallUsage] = ()) -> Script:
        """A copy with scene ``index`` (0-based) replaced and ``usage`` added to its costs.

        Every other scene is the very same object: a revision keeps them byte for byte.
        """
        if not 0 <= index < len(self.scenes):
            raise IndexError(f"scene index {index} is out of range (0 to {len(self.scenes) - 1})")
        scenes = list(self.scenes)
        scenes[index] = scene
        return self.model_copy(update={"scenes": scenes, "usage": [*self.usage, *usage]})


# -- continuity ---------------------------------------------------------------------------------


class EpisodeSummary(_Model):
    """What a later episode needs to know of a delivered one: derived, never asked of a model."""

    title: str = Field(min_length=1, max_length=120)
    logline: str = Field(default="", max_length=500)
    ending: str = Field(default="", max_length=600, description="How the final scene resolves.")
    characters: list[str] = Field(default_factory=list, max_length=20)
    new_gags: list[str] = Field(default_factory=list, max_length=10)

    def line(self) -> str:
        """One line of the "previously" block of the series bible."""
        parts = [f"{self.title}:"]
        if self.logline:
            parts.append(_sentence(self.logline))
        if self.ending:
            parts.append(f"Ending: {_sentence(self.ending)}")
        if self.new_gags:
            parts.append(f"New running gags: {'; '.join(g.strip() for g in self.new_gags)}.")
        return " ".join(parts)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."
