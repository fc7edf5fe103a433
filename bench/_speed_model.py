"""What bench/speed.py needs of the fake Messages API: a model that writes answers of realistic
sizes (so a stream at a fixed token rate lasts as long as the issue's latencies), and the
critical path of an episode read from what the fake recorded.

The answers' sizes are calibrated once, for the pipeline as it was (the outline written whole
before any scene): at ``TTFT`` seconds to the first token and ``TOKENS_PER_S`` after it, a
six-scene outline takes 3 s, a dialogue 3 s, stage directions 2 s and the comedy pass over six
scenes 2 s. Other calls take what their size says at the same rate: an outline of twelve scenes
is longer than one of six, the refinement of one scene is about a sixth of the comedy pass.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tests.fake_anthropic import RecordedRequest, forced_tool, last_user_text

TTFT = 0.5
TOKENS_PER_S = 100.0
CHUNK_CHARS = 48
"""The fake's delta size: 12 tokens at its four characters a token."""
PER_CHUNK = CHUNK_CHARS / 4 / TOKENS_PER_S

LATENCIES_S = {"outline": 3.0, "dialogue": 3.0, "directions": 2.0, "comedy": 2.0}
"""Of the calls the sizes are calibrated on: the outline and the comedy pass at six scenes."""
CALIBRATED_SCENES = 6


def chars_for(seconds: float) -> int:
    """The JSON size whose stream lasts ``seconds`` (first token included)."""
    chunks = round((seconds - TTFT) / PER_CHUNK)
    return chunks * CHUNK_CHARS


OUTLINE_HEAD = 140
"""Characters of an outline before its scenes (title, logline, the JSON around them)."""
OUTLINE_PER_SCENE = (chars_for(LATENCIES_S["outline"]) - OUTLINE_HEAD) // CALIBRATED_SCENES
DIALOGUE_CHARS = chars_for(LATENCIES_S["dialogue"])
DIRECTIONS_CHARS = chars_for(LATENCIES_S["directions"])
COMEDY_PER_SCENE = chars_for(LATENCIES_S["comedy"]) // CALIBRATED_SCENES

_SCENE_BLOCK = re.compile(r"^SCENE (\d+): .*$", re.M)
_REFINED = re.compile(r"Scene (\d+) scored lowest")
_ELEMENT = re.compile(r"^  (\d+)\. ", re.M)
_SCENE_COUNT = re.compile(r"exactly (\d+) scene")
_NAMES = ("DANA", "THEO", "PRIYA", "WALT", "GLORIA", "BENJI")
_WORDS = [
    "espresso",
    "ghost",
    "alibi",
    "casserole",
    "parrot",
    "thermostat",
    "landlord",
    "group",
    "chat",
    "rubber",
    "chicken",
    "birthday",
    "card",
    "deadline",
    "karaoke",
    "rival",
    "apology",
    "clipboard",
    "sandwich",
]


class RateResponder:
    """The fake's responder: valid answers of the calibrated sizes, deterministic per prompt."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def __call__(self, body: Mapping[str, Any]) -> dict[str, Any]:
        tool, prompt = forced_tool(body), last_user_text(body)
        rng = random.Random(hashlib.sha256(f"{self.seed}|{tool}|{prompt}".encode()).digest())
        match tool:
            case "write_outline":
                count = _SCENE_COUNT.search(prompt)
                return _outline(rng, int(count.group(1)) if count else CALIBRATED_SCENES)
            case "write_dialogue":
                return _dialogue(rng)
            case "add_stage_directions":
                return _directions(rng, prompt)
            case "punch_up":
                return _punch_up(rng, _punched_up(body, prompt))
        raise ValueError(f"no sized answer for the tool {tool}")


def _text(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < chars:
        words.append(rng.choice(_WORDS))
    return " ".join(words)[: max(1, chars)].strip() or "x"


def _padded(value: dict[str, Any], target: int, pad: tuple[Any, ...], rng: random.Random) -> None:
    """Lengthen the string at path ``pad`` until ``json.dumps(value)`` is ``target`` long."""
    *path, last = pad
    holder: Any = value
    for key in path:
        holder = holder[key]
    missing = target - len(json.dumps(value))
    if missing > 0:
        holder[last] = f"{holder[last]} {_text(rng, missing - 1)}"[: len(holder[last]) + missing]


def _outline(rng: random.Random, n: int) -> dict[str, Any]:
    scenes = []
    for i in range(n):
        scene: dict[str, Any] = {
            "heading": f"INT. ROOM {i + 1} - DAY",
            "location": f"Room {i + 1}",
            "time": "DAY",
            "characters": rng.sample(_NAMES, 2),
            "beat": _text(rng, 4),
            "comic_goal": _text(rng, 4),
        }
        _padded(scene, OUTLINE_PER_SCENE - 2, ("beat",), rng)
        scenes.append(scene)
    value = {"title": "The " + _text(rng, 14).title(), "logline": _text(rng, 20), "scenes": scenes}
    _padded(value, OUTLINE_HEAD + n * OUTLINE_PER_SCENE, ("logline",), rng)
    return value


def _dialogue(rng: random.Random) -> dict[str, Any]:
    lines = [{"character": _NAMES[i % 2], "line": _text(rng, 20) + "."} for i in range(14)]
    value: dict[str, Any] = {"lines": lines}
    _padded(value, DIALOGUE_CHARS, ("lines", 0, "line"), rng)
    return value


def _directions(rng: random.Random, prompt: str) -> dict[str, Any]:
    lines = len(_ELEMENT.findall(prompt)) or 1
    spots = sorted(rng.sample(range(lines + 1), min(5, lines + 1)))
    inserts = [{"after_line": n, "kind": "action", "text": _text(rng, 40)} for n in spots]
    value: dict[str, Any] = {"inserts": inserts}
    _padded(value, DIRECTIONS_CHARS, ("inserts", 0, "text"), rng)
    return value


def _punched_up(body: Mapping[str, Any], prompt: str) -> list[tuple[int, int]]:
    """(scene number, element count) of the scenes a punch-up call is about: every scene of the
    draft (the last block of its system prompt) for the comedy pass, the one a refinement
    names for it."""
    blocks = _scenes_in(str(body["system"][-1]["text"]))
    refined = _REFINED.match(prompt)
    if refined:
        return [b for b in blocks if b[0] == int(refined.group(1))]
    return blocks


def _punch_up(rng: random.Random, blocks: list[tuple[int, int]]) -> dict[str, Any]:
    """A joke a scene, scored 3 to 8 (a draft's mean is under the refinement threshold, as
    first drafts' often are), and an edit of each one under 6."""
    jokes: list[dict[str, Any]] = []
    edits: list[dict[str, Any]] = []
    for scene, elements in blocks:
        for line in sorted(rng.sample(range(1, elements + 1), 1)):
            score = rng.randint(3, 8)
            jokes.append({"scene": scene, "line": line, "kind": "irony", "score": score})
            if score < 6 and len(edits) < 12:
                edits.append({"scene": scene, "line": line, "new_text": ""})
    value: dict[str, Any] = {"analyzed_jokes": jokes, "edits": edits}
    target = COMEDY_PER_SCENE * max(1, len(blocks))
    for edit in edits:
        edit["new_text"] = _text(rng, 8)
    if edits:
        _padded(value, target, ("edits", 0, "new_text"), rng)
    elif jokes:
        jokes[0]["note"] = "ok"
        _padded(value, target, ("analyzed_jokes", 0, "note"), rng)
    return value


def _scenes_in(draft: str) -> list[tuple[int, int]]:
    """(scene number, element count) of each numbered scene in a draft."""
    marks = list(_SCENE_BLOCK.finditer(draft))
    found = []
    for n, mark in enumerate(marks):
        end = marks[n + 1].start() if n + 1 < len(marks) else len(draft)
        elements = len(_ELEMENT.findall(draft, mark.end(), end))
        found.append((int(mark.group(1)), max(1, elements)))
    return found


# -- the critical path, from the fake's records ------------------------------------------------

_SCENE_OF = {
    "write_dialogue": re.compile(r"dialogue of scene (\d+) \("),
    "add_stage_directions": re.compile(r"Here is the dialogue of scene (\d+) \("),
}


@dataclass(frozen=True)
class Episode:
    """One episode's calls as the fake served them, and its critical path."""

    outline: RecordedRequest
    ready: list[float]
    """Seconds from the outline call's start until each scene's entry was sent whole."""
    chains: list[tuple[RecordedRequest, RecordedRequest]]
    """Each scene's kept dialogue and directions calls."""
    tail: list[list[RecordedRequest]]
    """The calls after the scenes, stage by stage (the comedy pass, each refinement round)."""
    restarted: int

    @property
    def critical_path(self) -> float:
        """The outline's start to the end of the last call, if every call began the instant
        what it needs was there: each scene when its entry was sent whole (the outline's end,
        for a pipeline that waits for all of it), each later stage after the slowest before it.
        Durations are the fake's own (request in to last byte out): the model's time."""
        chains = [
            ready + _seconds(dialogue) + _seconds(directions)
            for ready, (dialogue, directions) in zip(self.ready, self.chains, strict=True)
        ]
        return max(chains) + sum(max(_seconds(r) for r in stage) for stage in self.tail)


def _seconds(record: RecordedRequest) -> float:
    assert record.finished is not None
    return record.finished - record.started


def episode(requests: Sequence[RecordedRequest], streamed: bool) -> Episode:
    """Read one episode's calls (``requests``: its own, in arrival order). ``streamed``: scenes
    may begin as their entry is sent; else each waits for the whole outline."""
    [outline] = [r for r in requests if r.tool_name == "write_outline" and r.outcome == "ok"]
    ends = entry_ends(outline.payload)
    ready = [(_sent_at(outline, end) if streamed else _seconds(outline)) for end in ends]
    by_scene: dict[tuple[str, int], RecordedRequest] = {}
    counts: dict[tuple[str, int], int] = {}
    for record in requests:
        pattern = _SCENE_OF.get(record.tool_name or "")
        found = pattern.search(record.last_user_text) if pattern else None
        if found and record.outcome == "ok":
            key = (record.tool_name or "", int(found.group(1)))
            by_scene[key] = record  # the last one is the one kept
            counts[key] = counts.get(key, 0) + 1
    chains = [
        (by_scene[("write_dialogue", n)], by_scene[("add_stage_directions", n)])
        for n in range(1, len(ends) + 1)
    ]
    punch = [r for r in requests if r.tool_name == "punch_up" and r.outcome == "ok"]
    comedy = [r for r in punch if "Do the punch-up pass" in r.last_user_text]
    refines = [r for r in punch if r not in comedy]
    tail = [stage for stage in (comedy, refines) if stage]
    restarted = sum(c - 1 for (tool, _), c in counts.items() if tool == "write_dialogue")
    return Episode(outline, ready, chains, tail, restarted)


def _sent_at(record: RecordedRequest, chars: int) -> float:
    """Seconds from the request's arrival until its answer's first ``chars`` were written."""
    for when, sent in record.written:
        if sent >= chars:
            return when - record.started
    return _seconds(record)


def entry_ends(payload: str) -> list[int]:
    """Where each scene entry of an outline's JSON ends (the offset past its closing brace)."""
    start = payload.index('"scenes"')
    depth, in_string, escaped, ends = 0, False, False, []
    for offset in range(payload.index("[", start) + 1, len(payload)):
        char = payload[offset]
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
            continue
        if char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                ends.append(offset + 1)
        elif char == "]" and depth == 0:
            break
    return ends
