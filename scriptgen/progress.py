"""What an episode is doing right now, for a live display.

The generator keeps one :class:`EpisodeProgress` up to date and calls the progress callback each
time it changes; a display reads the snapshot rather than parsing status strings.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

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
    started_at: float = field(default_factory=time.monotonic)

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


async def notify(callback: ProgressCallback | None, progress: EpisodeProgress) -> None:
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
        log.exception("progress callback failed (the episode goes on)")
