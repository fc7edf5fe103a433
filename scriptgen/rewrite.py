"""A scene written again to a writer's note, in one or more takes the room can vote between.

Each take is the scene's two steps again (dialogue, then stage directions), run through the same
machinery as an episode's (:class:`~scriptgen.run.Run`: limiter, checkpoints, reuse on resume)
and within the same ``max_parallel_scenes`` bound. A take is a new :class:`Scene` and what it
cost; :meth:`~scriptgen.models.Script.replace_scene` makes the revision from the chosen one.
"""

from __future__ import annotations

from dataclasses import dataclass

from scriptgen import prompts
from scriptgen.comedy import weave
from scriptgen.models import CallUsage, Scene, Script
from scriptgen.progress import RewriteProgress, SceneState
from scriptgen.run import Run, all_of

MAX_TAKES = 3
MAX_NOTE_CHARS = 1000
"""A note is an instruction for one scene, not a new scene: and it is in every take's prompt."""


@dataclass(frozen=True)
class RewriteTake:
    """One take of a rewritten scene, and the calls it took (reused ones included)."""

    scene: Scene
    usage: list[CallUsage]


def check_rewrite(script: Script, index: int, note: str, takes: int) -> str:
    """The note, stripped, if the rewrite can be asked for; else :class:`ValueError` saying why."""
    if not 0 <= index < len(script.scenes):
        raise ValueError(f"the script has scenes 1 to {len(script.scenes)}, not {index + 1}")
    if not 1 <= takes <= MAX_TAKES:
        raise ValueError(f"a rewrite has 1 to {MAX_TAKES} takes, not {takes}")
    note = note.strip()
    if not note:
        raise ValueError("the note is empty: say what the scene should do differently")
    if len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"the note is {len(note)} characters; the limit is {MAX_NOTE_CHARS}")
    return note


async def rewrite(
    run: Run[RewriteProgress], script: Script, index: int, note: str, takes: int
) -> list[RewriteTake]:
    """Every take of the rewrite, take 1 first; the first failure cancels the others."""
    result = await all_of(
        _take(run, script, index, note, take, takes) for take in range(1, takes + 1)
    )
    await run.advance("Done", steps=0)
    return result


async def _take(
    run: Run[RewriteProgress], script: Script, index: int, note: str, take: int, takes: int
) -> RewriteTake:
    number = index + 1
    label = f"Scene {number}" + (f", take {take}/{takes}" if takes > 1 else "")
    what = f"Take {take} of scene {number}'s rewrite" if takes > 1 else f"Scene {number}'s rewrite"
    states = run.progress.takes
    async with run.bound:
        states[take - 1] = SceneState.DIALOGUE
        await run.advance(f"{label}: rewriting the dialogue", steps=0)
        dialogue, dialogue_usage = await run.call_with_usage(
            prompts.rewrite_dialogue_step(
                script.request, script.outline, script.scenes, index, note, take, takes
            ),
            f"{what} (dialogue)",
        )
        states[take - 1] = SceneState.DIRECTIONS
        await run.advance(f"{label}: adding stage directions")
        directions, directions_usage = await run.call_with_usage(
            prompts.rewrite_directions_step(
                script.request, script.outline, index, dialogue, note, take
            ),
            f"{what} (stage directions)",
        )
    states[take - 1] = SceneState.DONE
    await run.advance(f"{label} done")
    scene = weave(script.scenes[index].heading, dialogue, directions)
    return RewriteTake(scene, [dialogue_usage, directions_usage])


__all__ = ["MAX_NOTE_CHARS", "MAX_TAKES", "RewriteTake", "check_rewrite", "rewrite"]
