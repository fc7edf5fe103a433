"""The words sent to the model, one builder per step.

Every call of an episode starts the same way, so a provider can cache that prefix once and read
it at a tenth of the price for every scene: the same tools (:data:`EPISODE_TOOLS`, all of them, in
the same order, each step naming the one it makes the model call), then the same blocks in the
same order (system prompt, series bible, premise, then the outline once there is one). Only the
last block of a request, the prompt, is the step's own. A scene step begun while the outline is
still streaming (:func:`early`) has the outline call's own prefix, and the outline so far in
its prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from scriptgen.models import (
    ComedyReport,
    Dialogue,
    EpisodeRequest,
    Outline,
    Scene,
    SceneDialogue,
    SeriesBible,
    StageDirections,
)
from scriptgen.providers.base import OutputT, StepFacts, StepKind, StepRequest, ToolSpec

SYSTEM_PROMPT = """\
You are the head writer of a sitcom writers' room. You write tight, character-driven comedy for
the screen: every scene has a comic engine, every character has a distinct voice, jokes come from
character and situation rather than from puns alone, and scenes end on a button.
Write in English unless the premise is in another language. Keep it suitable for a general
audience unless the tone asks otherwise. Never address real people by @-mention.
Answer only by calling the tool each request asks for, with every field filled."""

OUTLINE_KEY = "outline"
COMEDY_KEY = "comedy"

OUTLINE_TOOL = ToolSpec("write_outline", "Record the episode outline.", Outline)
DIALOGUE_TOOL = ToolSpec("write_dialogue", "Record the scene's dialogue.", SceneDialogue)
DIRECTIONS_TOOL = ToolSpec(
    "add_stage_directions", "Record the stage directions to weave into the scene.", StageDirections
)
PUNCH_UP_TOOL = ToolSpec(
    "punch_up", "Record the joke analysis and the punch-up edits.", ComedyReport
)
EPISODE_TOOLS: tuple[ToolSpec, ...] = (OUTLINE_TOOL, DIALOGUE_TOOL, DIRECTIONS_TOOL, PUNCH_UP_TOOL)
"""The tools of every step (the comedy pass and the refinements share ``punch_up``), declared
by every call of an episode in this order: a different tool list would make each kind of step
a cache prefix of its own."""


def render_bible(bible: SeriesBible) -> str:
    parts = ["SERIES BIBLE"]
    if bible.show_title:
        parts.append(f"Show: {bible.show_title}")
    if bible.logline:
        parts.append(f"Logline: {bible.logline}")
    if bible.setting:
        parts.append(f"Setting: {bible.setting}")
    if bible.tone:
        parts.append(f"Tone: {bible.tone}")
    if bible.characters:
        parts.append("Characters:")
        for c in bible.characters:
            traits = f" ({', '.join(c.traits)})" if c.traits else ""
            if c.description:
                voice = f" Voice: {c.voice}" if c.voice else ""
                parts.append(f"- {c.name}{traits}: {c.description}{voice}")
            else:
                voice = f": {c.voice}" if c.voice else ""
                parts.append(f"- {c.name}{traits}{voice}")
    if bible.running_gags:
        parts.append("Running gags (use where they fit, never forced):")
        parts.extend(f"- {g}" for g in bible.running_gags)
    return "\n".join(parts)


def render_previously(bible: SeriesBible) -> str:
    """The show's continuity, a block of its own after the bible: it changes with every
    delivered episode, the bible only when the writers edit it, so the bible's cached prefix
    serves every episode and note of the room."""
    lines = ["PREVIOUSLY, oldest first (stay in continuity):"]
    lines.extend(f"- {e}" for e in bible.previous_episodes)
    return "\n".join(lines)


def render_outline(outline: Outline) -> str:
    """The outline as every later call reads it (in the cached prefix)."""
    lines = [f"EPISODE OUTLINE\nTitle: {outline.title}\nLogline: {outline.logline}"]
    for n, s in enumerate(outline.scenes, 1):
        lines.append(
            f"Scene {n}: {s.heading}\n  Characters: {', '.join(s.characters)}\n"
            f"  Beat: {s.beat}\n  Comic goal: {s.comic_goal}"
        )
    return "\n".join(lines)


def render_outline_so_far(so_far: Outline, index: int, of: int) -> str:
    """An outline still being written, for a step on scene ``index`` begun meanwhile: the scene
    in full, the ones before it by heading and beat (the story so far), none after it.

    It is the step's own prompt, paid for in full by each such call: only what the scene needs.
    """
    lines = [
        f"EPISODE OUTLINE (still being written: {of} scenes)",
        f"Title: {so_far.title}\nLogline: {so_far.logline}",
    ]
    for n, s in enumerate(so_far.scenes[:index], 1):
        lines.append(f"Scene {n}: {s.heading} - {s.beat}")
    s = so_far.scenes[index]
    lines.append(
        f"Scene {index + 1} (this one): {s.heading}\n  Characters: {', '.join(s.characters)}\n"
        f"  Beat: {s.beat}\n  Comic goal: {s.comic_goal}"
    )
    return "\n".join(lines)


def render_request(request: EpisodeRequest) -> str:
    lines = [f"PREMISE\n{request.premise}"]
    if request.title:
        lines.append(f"Working title: {request.title}")
    if request.tone:
        lines.append(f"Tone: {request.tone}")
    return "\n".join(lines)


def render_scene(number: int, scene: Scene) -> str:
    """A scene with numbered elements, the numbers the comedy pass refers to."""
    lines = [f"SCENE {number}: {scene.heading}"]
    for n, el in enumerate(scene.elements, 1):
        if isinstance(el, Dialogue):
            paren = f" ({el.parenthetical})" if el.parenthetical else ""
            lines.append(f"  {n}. {el.character}{paren}: {el.line}")
        else:
            lines.append(f"  {n}. [{el.kind}] {el.text}")
    return "\n".join(lines)


def render_draft(scenes: Sequence[Scene]) -> str:
    """The draft as the comedy pass saw it (in its cached prefix, and the refinements')."""
    script = "\n\n".join(render_scene(n, s) for n, s in enumerate(scenes, 1))
    return f"THE DRAFT, every element numbered within its scene\n\n{script}"


def _shared(
    request: EpisodeRequest, outline: Outline | None, draft: Sequence[Scene] = ()
) -> list[str]:
    blocks = []
    if request.bible is not None:
        blocks.append(render_bible(request.bible))
        if request.bible.previous_episodes:
            blocks.append(render_previously(request.bible))
    blocks.append(render_request(request))
    if outline is not None:
        blocks.append(render_outline(outline))
    if draft:
        blocks.append(render_draft(draft))
    return blocks


def _step(
    kind: StepKind,
    key: str,
    output: type[OutputT],
    tool: ToolSpec,
    *,
    prompt: str,
    max_tokens: int,
    facts: StepFacts,
    after: Sequence[str] = (),
    check: Callable[[OutputT], None] | None = None,
    outline_in_prefix: bool = True,
    draft: Sequence[Scene] = (),
) -> StepRequest[OutputT]:
    """A step of the episode: every one shares the system prompt, the context and the tools
    (the outline too once it is written: ``outline_in_prefix=False`` for a step begun before;
    the comedy pass and the refinements, the draft as well)."""
    return StepRequest(
        kind=kind,
        key=key,
        output=output,
        system=SYSTEM_PROMPT,
        shared_context=_shared(facts.request, facts.outline if outline_in_prefix else None, draft),
        prompt=prompt,
        max_tokens=max_tokens,
        facts=facts,
        tool_name=tool.name,
        tool_description=tool.description,
        tools=EPISODE_TOOLS,
        check=check,
        after=tuple(after),
    )


def scene_keys(count: int) -> list[str]:
    """The keys of the steps an episode's ``count`` scenes are made of."""
    return [f"scene:{n}:{part}" for n in range(1, count + 1) for part in ("dialogue", "directions")]


def outline_step(request: EpisodeRequest) -> StepRequest[Outline]:
    n = request.scene_count
    return _step(
        "outline",
        OUTLINE_KEY,
        Outline,
        OUTLINE_TOOL,
        prompt=(
            f"Break this premise into a sitcom episode of exactly {n} scene"
            f"{'s' if n != 1 else ''}. Give it a title and a one-sentence logline. For each "
            "scene give a screenplay heading (INT./EXT. LOCATION - TIME), the location, the time, "
            "the characters in it, the beat (what happens) and its comic goal. Build to a "
            "climax and pay off the setup in the last scene." + _cast_note(request)
        ),
        max_tokens=300 + 250 * n,
        facts=StepFacts(request=request),
        check=lambda outline: _has_scene_count(outline, n),
    )


def _cast_note(request: EpisodeRequest) -> str:
    """A room's episode is written with the room's cast, in continuity."""
    bible = request.bible
    if bible is None:
        return ""
    note = ""
    if bible.characters:
        names = ", ".join(c.name for c in bible.characters)
        note += (
            f" Build it around the series bible's characters ({names}), by those names; add a "
            "new character only where the story needs one."
        )
    if bible.previous_episodes:
        note += " Stay in continuity with the previous episodes, and call back to them."
    return note


def _has_scene_count(outline: Outline, n: int) -> None:
    if len(outline.scenes) != n:
        raise ValueError(f"the outline must have exactly {n} scenes, not {len(outline.scenes)}")


def dialogue_step(
    request: EpisodeRequest, outline: Outline, index: int, *, written: bool = True
) -> StepRequest[SceneDialogue]:
    """Scene ``index``'s dialogue. ``written=False``: begun while the outline is still being
    written, from the scenes it has so far (``outline``, ``index`` among them): see
    :func:`early`."""
    scene = outline.scenes[index]
    step = _step(
        "dialogue",
        f"scene:{index + 1}:dialogue",
        SceneDialogue,
        DIALOGUE_TOOL,
        prompt=(
            f"Write the dialogue of scene {index + 1} ({scene.heading}) only: the lines in order, "
            "each with the speaking character's name as in the outline and an optional short "
            "parenthetical. 12 to 30 lines. Land the scene's comic goal and end on a button. "
            "No stage directions yet."
        ),
        max_tokens=2500,
        facts=StepFacts(request=request, outline=outline, scene_index=index),
        after=(OUTLINE_KEY,),
        outline_in_prefix=written,
    )
    return step if written else early(step, outline)


def directions_step(
    request: EpisodeRequest,
    outline: Outline,
    index: int,
    dialogue: SceneDialogue,
    *,
    written: bool = True,
) -> StepRequest[StageDirections]:
    """Scene ``index``'s stage directions on its ``dialogue``; ``written`` as for
    :func:`dialogue_step`."""
    numbered = "\n".join(
        f"  {n}. {line.character}: {line.line}" for n, line in enumerate(dialogue.lines, 1)
    )
    step = _step(
        "directions",
        f"scene:{index + 1}:directions",
        StageDirections,
        DIRECTIONS_TOOL,
        prompt=(
            f"Here is the dialogue of scene {index + 1} ({outline.scenes[index].heading}):\n"
            f"{numbered}\n\nAdd the stage directions: short present-tense action lines (what we "
            "see, physical comedy, reactions) and at most one transition at the end. Give each as "
            "an insert after a numbered line (0 = before the first line). Do not repeat or "
            "change the dialogue."
        ),
        max_tokens=1500,
        facts=StepFacts(request=request, outline=outline, scene_index=index, dialogue=dialogue),
        after=(OUTLINE_KEY, f"scene:{index + 1}:dialogue"),
        outline_in_prefix=written,
    )
    return step if written else early(step, outline)


def early(step: StepRequest[OutputT], so_far: Outline) -> StepRequest[OutputT]:
    """A scene step begun before the outline is finished, as soon as the scene's entry is.

    The same step (key, tool, checkpoint, what it stands on) with the outline so far at the top
    of its own prompt (:func:`render_outline_so_far`) instead of the outline in the shared
    prefix: that prefix is then exactly the outline call's (system prompt, bible, previously,
    premise), which that call has just written to the cache. Steps begun once the outline is
    finished carry it in the prefix, as always.
    """
    facts = step.facts
    assert facts.scene_index is not None
    told = render_outline_so_far(so_far, facts.scene_index, facts.request.scene_count)
    return replace(step, prompt=f"{told}\n\n{step.prompt}")


def comedy_step(
    request: EpisodeRequest, outline: Outline, scenes: Sequence[Scene]
) -> StepRequest[ComedyReport]:
    """The punch-up pass over the whole draft, which it writes to the cache as the last block
    of its prefix: the refinements after it read the draft from there (a tenth of the price)
    and are told only what changed since."""
    return _step(
        "comedy",
        COMEDY_KEY,
        ComedyReport,
        PUNCH_UP_TOOL,
        prompt=(
            "Do the punch-up pass over the draft above. First analyse the jokes: for each joke "
            "give its scene and element number, its kind, a score from 1 (dead) to 10 "
            "(brilliant) and a short note. Then punch up the weakest lines as targeted edits: "
            "scene, element number and the replacement text for that one element (dialogue: "
            "the new line only, no name). At most 12 edits; do not rewrite the script."
        ),
        max_tokens=4000,
        facts=StepFacts(request=request, outline=outline, scenes=tuple(scenes)),
        after=(OUTLINE_KEY, *scene_keys(len(scenes))),
        draft=scenes,
    )


def refine_step(
    request: EpisodeRequest,
    outline: Outline,
    draft: Sequence[Scene],
    scenes: Sequence[Scene],
    index: int,
    round_number: int,
    earlier: Sequence[str] = (),
) -> StepRequest[ComedyReport]:
    """Punch up one weak scene again. ``draft``: the scenes the comedy pass was shown (in the
    prefix, as it cached them); ``scenes``: now, with the edits of the comedy pass and of the
    earlier rounds (``earlier``: their keys), of which the prompt tells this scene's."""
    return _step(
        "refine",
        f"refine:{round_number}:scene:{index + 1}",
        ComedyReport,
        PUNCH_UP_TOOL,
        prompt=(
            f"Scene {index + 1} scored lowest in the punch-up pass. "
            f"{_changed_since_draft(draft[index], scenes[index])}\n\n"
            "Punch it up again. Score its jokes after your edits (scene "
            f"{index + 1}, element numbers as in the draft) and give targeted edits for the "
            "weak lines: at most 8, each replacing one element's text."
        ),
        max_tokens=2000,
        facts=StepFacts(request=request, outline=outline, scene_index=index, scenes=tuple(scenes)),
        after=(OUTLINE_KEY, *scene_keys(len(scenes)), COMEDY_KEY, *earlier),
        draft=draft,
    )


def _changed_since_draft(draft: Scene, now: Scene) -> str:
    """The elements of a scene that edits replaced since the draft, numbered as in it (edits
    replace elements, never add or remove one)."""
    before = render_scene(0, draft).splitlines()[1:]
    after = render_scene(0, now).splitlines()[1:]
    changed = [line for old, line in zip(before, after, strict=True) if old != line]
    if not changed:
        return "No line of it has changed since the draft above."
    return "Since the draft above, these of its elements were punched up:\n" + "\n".join(changed)


# -- rewrites: one scene again, to a writer's note ---------------------------------------------

TAKE_APPROACHES = (
    "Take the most direct reading of the note.",
    "Find a different comic angle on the note than the obvious one.",
    "Take the boldest reading of the note: surprise the room.",
)
"""What each take of a rewrite aims for, so the takes the room votes between really differ."""


def rewrite_key(take: int, index: int, part: str) -> str:
    """``take:{take}:scene:{n}:{part}``: unique among the steps of one rewrite."""
    return f"take:{take}:scene:{index + 1}:{part}"


def rewrite_dialogue_step(
    request: EpisodeRequest,
    outline: Outline,
    scenes: Sequence[Scene],
    index: int,
    note: str,
    take: int,
    takes: int,
) -> StepRequest[SceneDialogue]:
    """The dialogue of scene ``index`` (0-based) written again to a writer's note.

    A dialogue step like an episode's (same kind, tools and cached prefix), whose prompt shows
    the scene as it stands: every provider writes it as usual.
    """
    number, scene = index + 1, scenes[index]
    approach = ""
    if takes > 1:
        hint = TAKE_APPROACHES[(take - 1) % len(TAKE_APPROACHES)]
        approach = (
            f"\nThis is take {take} of {takes}; the writers will vote between the takes, so make "
            f"this one distinct. {hint}"
        )
    return _step(
        "dialogue",
        rewrite_key(take, index, "dialogue"),
        SceneDialogue,
        DIALOGUE_TOOL,
        prompt=(
            f"Here is scene {number} ({outline.scenes[index].heading}) as it stands, every "
            f"element numbered:\n\n{render_scene(number, scene)}\n\n"
            f"A writer gave this note on the scene:\n{note}\n\n"
            "Rewrite the scene's dialogue to follow the note: the lines in order, each with the "
            "speaking character's name as in the outline and an optional short parenthetical. "
            "Keep what works and the scene's place in the episode (its beat, what the next scene "
            "needs); change what the note asks. 12 to 30 lines, ending on a button. No stage "
            f"directions yet.{approach}"
        ),
        max_tokens=2500,
        facts=StepFacts(
            request=request,
            outline=outline,
            scene_index=index,
            scenes=tuple(scenes),
            note=note,
            take=take,
        ),
    )


def rewrite_directions_step(
    request: EpisodeRequest,
    outline: Outline,
    index: int,
    dialogue: SceneDialogue,
    note: str,
    take: int,
) -> StepRequest[StageDirections]:
    """The stage directions of a rewritten scene, built on that take's new dialogue."""
    step = directions_step(request, outline, index, dialogue)
    dialogue_key = rewrite_key(take, index, "dialogue")
    return _step(
        "directions",
        rewrite_key(take, index, "directions"),
        StageDirections,
        DIRECTIONS_TOOL,
        prompt=(
            f"{step.prompt}\n\nThe scene was rewritten to this note from a writer; let the "
            f"action serve it too:\n{note}"
        ),
        max_tokens=step.max_tokens,
        facts=StepFacts(
            request=request,
            outline=outline,
            scene_index=index,
            dialogue=dialogue,
            note=note,
            take=take,
        ),
        after=(dialogue_key,),
    )


__all__ = [
    "COMEDY_KEY",
    "EPISODE_TOOLS",
    "OUTLINE_KEY",
    "SYSTEM_PROMPT",
    "TAKE_APPROACHES",
    "comedy_step",
    "dialogue_step",
    "directions_step",
    "early",
    "outline_step",
    "refine_step",
    "render_bible",
    "render_draft",
    "render_outline",
    "render_outline_so_far",
    "render_scene",
    "rewrite_dialogue_step",
    "rewrite_directions_step",
    "rewrite_key",
    "scene_keys",
]
