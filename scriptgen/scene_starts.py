"""Scenes begun while the outline streams, each as soon as its entry is whole, then held to the
finished outline.

The outline call tells its answer as it streams (``StepRequest.on_partial``). An entry of its
``scenes`` is whole once the next one has begun (the last one, once the answer is complete): its
scene's chain (dialogue, then stage directions) begins at once, within the run's scene bound,
with the outline so far in its own prompt (:func:`scriptgen.prompts.early`). Once the outline is
finished and validated:

- a chain begun on an entry the finished outline has unchanged goes on. What it wrote before is
  checkpointed now, after the outline, and what it writes later as it finishes: a step is never
  stored before the steps it stands on (``StepRequest.after``), so a resumed episode never finds
  a scene without its outline;
- a chain begun on an entry that changed (a new attempt at the outline, after a rejected answer
  or a stream cut off, streams another) is cancelled and begun again on the finished entry, and
  counted (``EpisodeProgress.restarted_scenes``). What it wrote is not kept; its cost is recorded
  (``Checkpoints.record_failure``), as it was paid. A new attempt streams from the start, so an
  entry that differs from the one a chain was begun on cancels that chain at once;
- scenes not begun yet begin, with the outline in the shared prefix as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from scriptgen import prompts
from scriptgen.models import (
    CallUsage,
    EpisodeRequest,
    Outline,
    Scene,
    SceneDialogue,
    SceneOutline,
    StageDirections,
)
from scriptgen.progress import EpisodeProgress, SceneState
from scriptgen.providers.base import StepRequest
from scriptgen.run import Run, TaskSet

__all__ = ["SceneAttempt", "SceneStarts"]

log = logging.getLogger(__name__)

Chain = Callable[["SceneAttempt"], Coroutine[Any, Any, Scene]]


@dataclass(eq=False)
class SceneAttempt:
    """One scene's chain, begun on one entry of the outline."""

    starts: SceneStarts
    index: int
    entry: SceneOutline
    raw: Any
    """The entry as streamed (None once the outline is finished): compared as it streams again."""
    confirmed: bool
    """The finished outline has this entry: answers are checkpointed as they come."""
    held: list[tuple[str, BaseModel, CallUsage]] = field(default_factory=list)
    superseded: bool = False
    steps: int = 0
    """Progress steps this attempt has counted (taken back if it is begun again)."""
    task: asyncio.Task[Scene] | None = None

    context: Outline | None = None
    """The outline as streamed up to this scene, when it was begun before the outline was done."""

    def dialogue_step(self) -> StepRequest[SceneDialogue]:
        starts, index = self.starts, self.index
        if starts.outline is not None or self.context is None:
            return prompts.dialogue_step(starts.request, self._outline(), index)
        return prompts.dialogue_step(starts.request, self.context, index, written=False)

    def directions_step(self, dialogue: SceneDialogue) -> StepRequest[StageDirections]:
        starts, index = self.starts, self.index
        if starts.outline is not None or self.context is None:
            return prompts.directions_step(starts.request, self._outline(), index, dialogue)
        return prompts.directions_step(starts.request, self.context, index, dialogue, written=False)

    def _outline(self) -> Outline:
        assert self.starts.outline is not None
        return self.starts.outline

    def keep(self, key: str, value: BaseModel, usage: CallUsage) -> None:
        """A new answer of this chain: saved if the outline stands, else held until it does."""
        saves = self.starts.run.saves
        if self.superseded:
            saves.record_failure(key, usage)
        elif self.confirmed:
            saves.save(key, value, usage)
        else:
            self.held.append((key, value, usage))

    def confirm(self) -> None:
        self.confirmed = True
        for key, value, usage in self.held:
            self.starts.run.saves.save(key, value, usage)
        self.held.clear()

    def discard(self) -> None:
        """Nothing this attempt wrote is kept; what it cost is recorded."""
        self.superseded = True
        for key, _, usage in self.held:
            self.starts.run.saves.record_failure(key, usage)
        self.held.clear()


class SceneStarts:
    """The scene chains of one episode, begun from the outline as it streams (see the module)."""

    def __init__(
        self, run: Run[EpisodeProgress], request: EpisodeRequest, tasks: TaskSet, chain: Chain
    ) -> None:
        self.run = run
        self.request = request
        self.tasks = tasks
        self.chain = chain
        self.outline: Outline | None = None
        """The finished outline, once it is."""
        self.attempts: dict[int, SceneAttempt] = {}
        self._title = ""
        self._logline = ""
        self._entries: list[SceneOutline | None] = []
        self._whole = 0
        """Entries of the current attempt at the outline seen whole so far."""

    # -- as the outline streams -------------------------------------------------------------------

    def partial(self, value: Any) -> None:
        """The outline so far (``StepRequest.on_partial``): begin each scene whose entry is
        whole. Never raises into the provider's call: at worst the scenes begin at the end."""
        try:
            self._partial(value)
        except Exception:
            log.exception("beginning scenes from the streaming outline failed")

    def _partial(self, value: Any) -> None:
        if self.outline is not None or not isinstance(value, dict):
            return
        scenes = value.get("scenes")
        if not isinstance(scenes, list):
            return
        whole = max(0, min(len(scenes) - 1, self.request.scene_count))
        if whole < self._whole:  # a new attempt at the outline, streaming from the start
            self._whole = 0
        if whole == self._whole:
            return
        if isinstance(value.get("title"), str):
            self._title = value["title"]
        if isinstance(value.get("logline"), str):
            self._logline = value["logline"]
        for index in range(self._whole, whole):
            self._offer(index, scenes[index])
        self._whole = whole

    def _offer(self, index: int, raw: Any) -> None:
        attempt = self.attempts.get(index)
        same = attempt is not None and attempt.raw == raw
        entry: SceneOutline | None = attempt.entry if attempt is not None and same else None
        if not same:
            try:
                entry = SceneOutline.model_validate(raw)
            except ValidationError:
                entry = None
        del self._entries[index:]
        self._entries.append(entry)
        if same:
            return
        if attempt is not None:
            self._again(attempt)
        if entry is not None and None not in self._entries:
            self._begin(index, entry, raw)

    def _so_far(self, index: int) -> Outline:
        """The outline as streamed up to scene ``index``: title, logline, its entries."""
        scenes = [entry for entry in self._entries[: index + 1] if entry is not None]
        assert len(scenes) == index + 1
        return Outline.model_construct(title=self._title, logline=self._logline, scenes=scenes)

    # -- once it is finished ----------------------------------------------------------------------

    def final(self, outline: Outline) -> None:
        """The outline is finished and saved: keep, begin again or begin every scene's chain."""
        self.outline = outline
        for index, entry in enumerate(outline.scenes):
            attempt = self.attempts.get(index)
            if attempt is not None and attempt.entry == entry:
                attempt.confirm()
                continue
            if attempt is not None:
                self._again(attempt)
            self._begin(index, entry, None)

    def scenes(self) -> list[Scene]:
        """Every scene, in order, once the chains have ended (after the task set)."""
        assert self.outline is not None
        tasks = [self.attempts[i].task for i in range(len(self.outline.scenes))]
        return [task.result() for task in tasks if task is not None]

    def discard_held(self) -> None:
        """However the episode ends: answers never confirmed are not kept, their cost is."""
        for attempt in self.attempts.values():
            if not attempt.confirmed:
                attempt.discard()

    # -- chains -----------------------------------------------------------------------------------

    def _begin(self, index: int, entry: SceneOutline, raw: Any) -> None:
        attempt = SceneAttempt(self, index, entry, raw, confirmed=self.outline is not None)
        if self.outline is None:
            # Captured now: a new attempt at the outline may stream again from the start.
            attempt.context = self._so_far(index)
        self.attempts[index] = attempt
        self.run.progress.scenes[index].heading = entry.heading
        attempt.task = self.tasks.start(self.chain(attempt))

    def _again(self, attempt: SceneAttempt) -> None:
        """Cancel a chain begun on an entry that changed; it is counted, and begun again."""
        attempt.discard()
        if attempt.task is not None:
            attempt.task.cancel()
        del self.attempts[attempt.index]
        progress = self.run.progress
        progress.current -= attempt.steps
        progress.restarted_scenes += 1
        progress.scenes[attempt.index].state = SceneState.WAITING
