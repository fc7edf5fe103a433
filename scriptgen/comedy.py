"""Putting the passes' answers into the script: directions woven in, punch-up edits applied.

Model output refers to lines by number; numbers that point nowhere are skipped and counted, never
trusted to index a list, so a confused answer cannot corrupt a scene.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from scriptgen.models import (
    Action,
    AnalyzedJoke,
    ComedyReport,
    Dialogue,
    LineEdit,
    Scene,
    SceneDialogue,
    SceneElement,
    StageDirections,
    Transition,
)

log = logging.getLogger(__name__)


def weave(heading: str, dialogue: SceneDialogue, directions: StageDirections) -> Scene:
    """The scene with each direction placed after the dialogue line it names."""
    after: dict[int, list[SceneElement]] = {}
    last = len(dialogue.lines)
    for insert in directions.inserts:
        element: SceneElement = (
            Action(text=insert.text) if insert.kind == "action" else Transition(text=insert.text)
        )
        after.setdefault(min(insert.after_line, last), []).append(element)
    elements: list[SceneElement] = list(after.get(0, []))
    for n, line in enumerate(dialogue.lines, 1):
        elements.append(
            Dialogue(character=line.character, parenthetical=line.parenthetical, line=line.line)
        )
        elements.extend(after.get(n, []))
    return Scene(heading=heading, elements=elements)


@dataclass(frozen=True)
class EditResult:
    scenes: list[Scene]
    applied: list[LineEdit]
    skipped: list[LineEdit]


def apply_edits(scenes: Sequence[Scene], edits: Sequence[LineEdit]) -> EditResult:
    """The scenes with each edit's text replacing the one element it names.

    Elements are replaced, never changed in place, so only the edited scenes get a new list.
    """
    new_scenes = list(scenes)
    copied: set[int] = set()
    applied: list[LineEdit] = []
    skipped: list[LineEdit] = []
    for edit in edits:
        index, line = edit.scene - 1, edit.line - 1
        if not (0 <= index < len(new_scenes) and 0 <= line < len(new_scenes[index].elements)):
            skipped.append(edit)
            continue
        if index not in copied:
            scene = new_scenes[index]
            new_scenes[index] = Scene(heading=scene.heading, elements=list(scene.elements))
            copied.add(index)
        elements = new_scenes[index].elements
        old = elements[line]
        if isinstance(old, Dialogue):
            text = _without_cue(edit.new_text, old.character)
            elements[line] = old.model_copy(update={"line": text})
        else:
            elements[line] = old.model_copy(update={"text": edit.new_text.strip()})
        applied.append(edit)
    if skipped:
        log.info("skipped %d punch-up edits that named no line", len(skipped))
    return EditResult(new_scenes, applied, skipped)


def _without_cue(text: str, character: str) -> str:
    """Models often write 'JERRY: line' although asked for the line alone."""
    match = re.match(rf"\s*{re.escape(character)}\s*(\([^)]*\))?\s*:\s*(.+)", text, re.I | re.S)
    return (match.group(2) if match else text).strip()


def current_jokes(comedy: ComedyReport, refinements: Sequence[ComedyReport]) -> list[AnalyzedJoke]:
    """Each scene's jokes as last scored: a refinement replaces its scene's earlier scores."""
    latest: dict[int, list[AnalyzedJoke]] = {}
    for report in (comedy, *refinements):
        rescored: dict[int, list[AnalyzedJoke]] = {}
        for joke in report.analyzed_jokes:
            rescored.setdefault(joke.scene, []).append(joke)
        latest.update(rescored)
    return [joke for scene in sorted(latest) for joke in latest[scene]]


def mean_score(jokes: Sequence[AnalyzedJoke]) -> float | None:
    return sum(j.score for j in jokes) / len(jokes) if jokes else None


def weakest_scenes(
    jokes: Sequence[AnalyzedJoke], scene_count: int, threshold: float, limit: int
) -> list[int]:
    """0-based indexes of up to ``limit`` scenes scoring under ``threshold``, weakest first.

    A scene with no joke found in it is the weakest of all: it is the one most in need of help.
    """
    by_scene: dict[int, list[int]] = {n: [] for n in range(1, scene_count + 1)}
    for joke in jokes:
        if joke.scene in by_scene:
            by_scene[joke.scene].append(joke.score)
    means = {n: (sum(s) / len(s) if s else 0.0) for n, s in by_scene.items()}
    weak = sorted((m, n) for n, m in means.items() if m < threshold)
    return [n - 1 for _, n in weak[:limit]]
