"""What an episode (or a rewrite) is doing right now, for a live display.

The generator keeps one :class:`EpisodeProgress` (:class:`RewriteProgress` for a rewrite) up to
date and calls the progress callback each time it changes; a display reads the snapshot rather
than parsing status strings.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from scriptgen.models import CallUsage

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], Awaitable[None] | None]
"""``(status, current, total)``, sync or async. ``current`` counts finished steps."""


class Stage(StrEnum):
    OUTLINE = "outline"
    SCENES = "scenes"
    COMEDY = "comedy pass"
    REFINEMENT = "refinement"
    DONE = "done"


class SceneState(StrEnum):
    WAITING = "waiting"
    DIALOGUE = "writing dialogue"
    DIRECTIONS = "adding stage directions"
    DONE = "done"
    PUNCH_UP = "punching up"


@dataclass
class SceneProgress:
    number: int
    heading: str | None = None
    state: SceneState = SceneState.WAITING


@dataclass
class EpisodeProgress:
    scene_count: int
    max_refinements: int = 1
    stage: Stage = Stage.OUTLINE
    title: str | None = None
    status: str = "Writing the outline"
    current: int = 0
    scenes: list[SceneProgress] = field(default_factory=list)
    reused_steps: int = 0
    """Steps taken from checkpoints instead of the model (a resumed episode)."""
    restarted_scenes: int = 0
    """Scenes begun on an entry of the outline as it streamed, then begun again because the
    finished outline (or a new attempt at it) has that entry otherwise."""
    started_at: float = field(default_factory=time.monotonic)
    usage: list[CallUsage] = field(default_factory=list)
    """Every finished call of the run so far (reused ones included): its running cost."""

    def __post_init__(self) -> None:
        if not self.scenes:
            self.scenes = [SceneProgress(n) for n in range(1, self.scene_count + 1)]

    @property
    def total(self) -> int:
        """Outline, two steps a scene, the comedy pass and each possible refinement round."""
        return 1 + 2 * self.scene_count + 1 + self.max_refinements

    @property
    def scenes_done(self) -> int:
        return sum(s.state in (SceneState.DONE, SceneState.PUNCH_UP) for s in self.scenes)


@dataclass
class RewriteProgress:
    """A scene being rewritten to a note, in one or more takes written side by side."""

    scene: int
    """The scene's number (1-based), as writers count."""
    takes: list[SceneState] = field(default_factory=list)
    """Each take's state, take 1 first; the generator sets one per take when it starts."""
    status: str = "Rewriting the scene"
    current: int = 0
    reused_steps: int = 0
    """Steps taken from checkpoints instead of the model (a resumed rewrite)."""
    started_at: float = field(default_factory=time.monotonic)
    usage: list[CallUsage] = field(default_factory=list)
    """Every finished call of the rewrite so far (reused ones included)."""

    @property
    def total(self) -> int:
        """Two steps a take: its dialogue, then its stage directions."""
        return 2 * len(self.takes)

    @property
    def takes_done(self) -> int:
        return sum(state is SceneState.DONE for state in self.takes)


class Progress(Protocol):
    """What every progress snapshot has: the status line, and finished steps of a total."""

    status: str
    current: int
    reused_steps: int
    usage: list[CallUsage]

    @property
    def total(self) -> int: ...


async def notify(callback: ProgressCallback | None, progress: Progress) -> None:
    """Tell the callback; its failure is logged and never stops the episode."""
    if callback is None:
        return
    try:
        result = callback(progress.status, progress.current, progress.total)
        if inspect.isawaitable(result):
            await result
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("progress callback failed (the run goes on)")
