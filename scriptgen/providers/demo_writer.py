"""The offline demo's writing: readable, varied sitcom material built from the premise, no model.

Deterministic for a seed and a step, whatever order parallel steps run in: each step draws from
its own random stream keyed by the seed, the premise and the step key.
"""

from __future__ import annotations

import random
import re

from scriptgen.models import (
    AnalyzedJoke,
    ComedyReport,
    Dialogue,
    DialogueLine,
    DirectionInsert,
    JokeKind,
    LineEdit,
    Outline,
    SceneDialogue,
    SceneOutline,
    StageDirections,
)
from scriptgen.providers.base import StepFacts

CAST = ["MAYA", "DEV", "GRANDPA LOU", "PRIYA", "TOBIAS", "BEA", "MARCUS", "JUNE", "OSCAR", "NELL"]
PLACES = [
    ("INT.", "APARTMENT 4B"),
    ("INT.", "COFFEE SHOP"),
    ("INT.", "OFFICE BREAK ROOM"),
    ("EXT.", "ROOFTOP"),
    ("INT.", "HARDWARE STORE"),
    ("INT.", "LAUNDROMAT"),
    ("EXT.", "PARKING LOT"),
    ("INT.", "COMMUNITY CENTER"),
    ("INT.", "HALLWAY"),
    ("INT.", "DINER"),
    ("EXT.", "PARK BENCH"),
    ("INT.", "ELEVATOR"),
]
TIMES = ["DAY", "NIGHT", "MORNING", "LATER", "CONTINUOUS", "EVENING"]
BEATS = [
    ("{a} discovers {thing} and tells exactly the wrong person: {b}.", "dramatic irony"),
    ("{b} insists {thing} is fine; {a} has evidence to the contrary.", "denial under pressure"),
    ("{a} and {b} make a plan to deal with {thing}. The plan has one flaw: all of it.", "hubris"),
    (
        "A misunderstanding: {b} thinks {a} is talking about something else entirely.",
        "misdirection",
    ),
    ("{a} tries to act normal around {thing} and fails spectacularly.", "physical comedy"),
    ("{b} turns {thing} into a business opportunity nobody asked for.", "escalation"),
    ("Everything goes wrong at once; {a} finally says the quiet part out loud.", "climax"),
    ("The dust settles. {thing} has one last surprise.", "button"),
]
OPENERS = [
    "Okay. Nobody panic. Especially not me.",
    "I need you to listen to me very calmly, because I am not calm.",
    "Before you say anything: it's worse than it looks.",
    "So. Funny story. Not funny-ha-ha.",
    "Is this a bad time? It's about to be.",
]
LINES = [
    "You're telling me {thing} has opinions now?",
    "I didn't panic. I strategically screamed.",
    "That's not a plan, {b}. That's a wish with a clipboard.",
    "In my defense, I have no defense.",
    "Do we have a backup plan? Tell me we have a backup plan.",
    "Fine. But when this goes sideways, I want it noted that I said 'hmm'.",
    "I've been doing this for twenty minutes. I'm basically an expert.",
    "Can we go back to when {thing} was the least of our problems? Yesterday. That was nice.",
    "Is it weird if I take this personally? Because I'm taking it personally.",
    "Nobody touch anything. {a}, that includes your face.",
    "I read about this. Well, I read the title.",
    "You said it would be fine! You said it with a thumbs-up!",
    "I'm not saying it's your fault. I'm saying it's not mine.",
    "That's the nicest terrible idea I've ever heard.",
    "We are adults. We are adults who can handle {thing}.",
    "I have a very specific set of skills and none of them apply here.",
    "Great. Great great great. Super great.",
    "Remind me why we didn't just call someone?",
    "If anyone asks, we were never here. Also, where are we?",
    "I want to be supportive. I want it so much.",
]
REACTIONS = ["beat", "deadpan", "whispering", "too loud", "to herself", "re: the chaos", "sotto"]
ACTIONS = [
    "{a} freezes mid-sip.",
    "{b} backs slowly toward the door, smiling far too hard.",
    "A long, awful silence. Somewhere, a kettle whistles.",
    "{a} tries to look casual and knocks over everything within reach.",
    "{b} produces a clipboard from nowhere.",
    "They both turn to look at {thing}. It does not help.",
    "{a} mouths 'WHAT' at {b}. {b} mouths 'I KNOW'.",
    "The lights flicker. Everyone pretends not to notice.",
]
TAGS = [
    " And I mean that professionally.",
    " Which, for the record, is a personal best.",
    " I'm putting that on a mug.",
    " That's going in my memoir. Chapter twelve: Why.",
    " Don't look at me like that, I can feel it.",
]
NOTE_LEADS = [
    "New idea. Hear me out:",
    "You know what this needs?",
    "Okay, from the top, but this time:",
]
NOTE_CHARS = 1500
MAX_LINES = 120
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "about",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "discovers",
        "discover",
        "finds",
        "find",
        "learns",
        "learn",
        "realizes",
        "realize",
        "has",
        "have",
        "that",
        "this",
        "their",
        "his",
        "her",
        "its",
        "who",
        "what",
        "when",
        "where",
        "why",
        "how",
        "after",
        "before",
        "during",
        "while",
    ]
)


def _rng(seed: int, facts: StepFacts, key: str) -> random.Random:
    return random.Random(f"{seed}\x00{facts.request.premise}\x00{key}")


def premise_thing(premise: str) -> str:
    """The premise's object, roughly: its longest run of content words after the subject."""
    runs: list[list[str]] = [[]]
    for word in re.findall(r"[A-Za-z][A-Za-z'-]*", premise):
        if word.lower() in STOPWORDS:
            runs.append([])
        else:
            runs[-1].append(word.lower())
    runs = [r for r in runs if r]
    if not runs:
        return "the situation"
    if len(runs) == 1:
        return "the " + runs[0][-1]
    return "the " + " ".join(max(runs[1:], key=len)[-2:])


def _cast(facts: StepFacts, rng: random.Random) -> list[str]:
    bible = facts.request.bible
    if bible is not None and bible.characters:
        return [c.name.upper() for c in bible.characters]
    return rng.sample(CAST, 4)


def outline(seed: int, facts: StepFacts, key: str) -> Outline:
    rng = _rng(seed, facts, key)
    cast, thing = _cast(facts, rng), premise_thing(facts.request.premise)
    n = facts.request.scene_count
    places = rng.sample(PLACES, min(n, len(PLACES)))
    scenes = []
    for i in range(n):
        prefix, place = places[i % len(places)]
        time = "DAY" if i == 0 else rng.choice(TIMES)
        beat_text, goal = BEATS[round(i * (len(BEATS) - 1) / max(n - 1, 1))]
        a, b = rng.sample(cast, 2) if len(cast) > 1 else cast * 2
        scenes.append(
            SceneOutline(
                heading=f"{prefix} {place} - {time}",
                location=place.title(),
                time=time,
                characters=list(dict.fromkeys([a, b])),
                beat=beat_text.format(a=a.title(), b=b.title(), thing=thing),
                comic_goal=f"Play the {goal}.",
            )
        )
    title = facts.request.title or f"The One With {thing.title()}"
    return Outline(
        title=title,
        logline=f"{facts.request.premise.rstrip('.')}. (An offline demo episode.)",
        scenes=scenes,
    )


def dialogue(seed: int, facts: StepFacts, key: str) -> SceneDialogue:
    assert facts.outline is not None
    assert facts.scene_index is not None
    if facts.note is not None:
        return rewritten_dialogue(seed, facts, key)
    rng = _rng(seed, facts, key)
    scene = facts.outline.scenes[facts.scene_index]
    a, b = (scene.characters + scene.characters)[:2]
    thing = premise_thing(facts.request.premise)
    fill = {"a": a.title(), "b": b.title(), "thing": thing}
    lines = [DialogueLine(character=a, line=rng.choice(OPENERS))]
    for i, template in enumerate(rng.sample(LINES, rng.randint(10, 16))):
        speaker = b if i % 2 == 0 else a
        paren = rng.choice(REACTIONS) if rng.random() < 0.2 else None
        lines.append(
            DialogueLine(character=speaker, parenthetical=paren, line=template.format(**fill))
        )
    return SceneDialogue(lines=lines)


def rewritten_dialogue(seed: int, facts: StepFacts, key: str) -> SceneDialogue:
    """The scene's dialogue again, to a writer's note: about a third of its lines written anew,
    and a line near the top that says the note's words, so a rewrite visibly follows it."""
    assert facts.outline is not None
    assert facts.scene_index is not None
    assert facts.note is not None
    rng = _rng(seed, facts, key)
    scene = facts.outline.scenes[facts.scene_index]
    a, b = (scene.characters + scene.characters)[:2]
    fill = {"a": a.title(), "b": b.title(), "thing": premise_thing(facts.request.premise)}
    elements = facts.scenes[facts.scene_index].elements if facts.scenes else []
    old = [
        DialogueLine(character=el.character, parenthetical=el.parenthetical, line=el.line)
        for el in elements
        if isinstance(el, Dialogue)
    ]
    lines = [
        DialogueLine(character=line.character, line=rng.choice(LINES).format(**fill))
        if rng.random() < 0.35
        else line
        for line in old
    ] or [DialogueLine(character=a, line=rng.choice(OPENERS))]
    note = " ".join(facts.note.split())[:NOTE_CHARS]
    said = DialogueLine(
        character=b, parenthetical="taking the note", line=f"{rng.choice(NOTE_LEADS)} {note}"
    )
    lines.insert(min(1, len(lines)), said)
    return SceneDialogue(lines=lines[:MAX_LINES])


def directions(seed: int, facts: StepFacts, key: str) -> StageDirections:
    assert facts.outline is not None
    assert facts.scene_index is not None
    assert facts.dialogue is not None
    rng = _rng(seed, facts, key)
    scene = facts.outline.scenes[facts.scene_index]
    a, b = (scene.characters + scene.characters)[:2]
    fill = {"a": a.title(), "b": b.title(), "thing": premise_thing(facts.request.premise)}
    count = len(facts.dialogue.lines)
    spots = sorted(rng.sample(range(1, count), min(4, count - 1))) if count > 1 else []
    inserts = [DirectionInsert(after_line=0, kind="action", text=scene.beat)]
    inserts += [
        DirectionInsert(after_line=n, kind="action", text=rng.choice(ACTIONS).format(**fill))
        for n in spots
    ]
    # The request's count: a scene begun before the outline was finished sees only part of it.
    last_scene = facts.scene_index == facts.request.scene_count - 1
    inserts.append(
        DirectionInsert(
            after_line=count, kind="transition", text="FADE OUT." if last_scene else "CUT TO:"
        )
    )
    return StageDirections(inserts=inserts)


def comedy(seed: int, facts: StepFacts, key: str, only_scene: int | None = None) -> ComedyReport:
    """Scores a handful of lines per scene; a refinement (``only_scene``) scores them higher."""
    rng = _rng(seed, facts, key)
    kinds: list[JokeKind] = ["one-liner", "callback", "misdirection", "character", "irony"]
    jokes: list[AnalyzedJoke] = []
    edits: list[LineEdit] = []
    for number, scene in enumerate(facts.scenes, 1):
        if only_scene is not None and number != only_scene + 1:
            continue
        lines = [(n, el) for n, el in enumerate(scene.elements, 1) if isinstance(el, Dialogue)]
        picked = rng.sample(lines, min(4, len(lines)))
        low, high = (6, 9) if only_scene is not None else (3, 9)
        for n, el in sorted(picked, key=lambda p: p[0]):
            score = rng.randint(low, high)
            jokes.append(
                AnalyzedJoke(
                    scene=number,
                    line=n,
                    kind=rng.choice(kinds),
                    score=score,
                    note="Lands." if score >= 7 else "Needs a sharper turn.",
                )
            )
            if score < 6:
                edits.append(
                    LineEdit(
                        scene=number,
                        line=n,
                        new_text=el.line.rstrip() + rng.choice(TAGS),
                        reason="Add a tag to land the turn.",
                    )
                )
    return ComedyReport(analyzed_jokes=jokes, edits=edits)
