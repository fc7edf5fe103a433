"""An outline as plain text a writer edits (in a Discord modal), and back.

One block a scene, blocks separated by a blank line::

    1. INT. COFFEE SHOP - DAY
    Characters: Ada, Bo
    Beat: ...
    Comic goal: ...

Reading it back is lenient where a writer is sloppy (label case and spacing, scene numbers, a
missing blank line before a numbered heading, a field running over several lines) and strict
where the generator needs something: every problem is reported by scene, and nothing partial is
returned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from scriptgen.errors import ScriptgenError
from scriptgen.models import MAX_SCENES, Outline, SceneOutline

__all__ = ["OutlineTextError", "parse_outline", "scene_blocks", "scenes_text"]

_LABELS = {"characters": "Characters", "beat": "Beat", "comicgoal": "Comic goal"}
"""Label (lower case, no spaces) -> as written in the text."""
_LABEL = re.compile(r"^\s*(characters|beat|comic\s*goal)\s*:\s*(.*)$", re.IGNORECASE)
_NUMBER = re.compile(r"^\s*\d{1,3}\s*[.):]\s*")
_HEADING = re.compile(
    r"^(?P<prefix>INT\.?\s*/\s*EXT\.?|EXT\.?\s*/\s*INT\.?|I\s*/\s*E\.?|INT\.?|EXT\.?)\s+"
    r"(?P<place>.+?)\s+[-\u2013\u2014]+\s+(?P<time>[^-\u2013\u2014]+?)\s*$",
    re.IGNORECASE,
)
_PREFIXES = {"INT": "INT.", "EXT": "EXT.", "INTEXT": "INT./EXT.", "EXTINT": "EXT./INT."}
_LOOKS_LIKE_HEADING = re.compile(r"^\s*(\d{1,3}\s*[.):]\s*)?(INT|EXT|I\s*/\s*E)\b", re.IGNORECASE)
_MAX = {"heading": 120, "time": 40, "beat": 1000, "comicgoal": 500}


class OutlineTextError(ScriptgenError):
    """The edited outline cannot be used as it is; ``problems`` says every reason, one a line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def scene_blocks(outline: Outline) -> list[str]:
    """One block of text a scene, numbered from 1 (the bot packs them into the modal's inputs)."""
    return [
        f"{n}. {_line(s.heading)}\n"
        f"Characters: {', '.join(_line(c) for c in s.characters)}\n"
        f"Beat: {_line(s.beat)}\n"
        f"Comic goal: {_line(s.comic_goal)}"
        for n, s in enumerate(outline.scenes, 1)
    ]


def scenes_text(outline: Outline) -> str:
    """Every scene's block, separated by a blank line."""
    return "\n\n".join(scene_blocks(outline))


def parse_outline(title: str, logline: str, text: str) -> Outline:
    """The outline the writer's text describes; :class:`OutlineTextError` listing every problem.

    Scenes are numbered in the order they come, whatever numbers the text gives them; each
    scene's location and time are read from its heading.
    """
    problems: list[str] = []
    title, logline = " ".join(title.split()), " ".join(logline.split())
    for name, value, limit in (("title", title, 120), ("logline", logline, 500)):
        if not value:
            problems.append(f"the {name} is empty")
        elif len(value) > limit:
            problems.append(f"the {name} is too long (max {limit} characters)")
    blocks = _blocks(text)
    if not 1 <= len(blocks) <= MAX_SCENES:
        count = f"{len(blocks)} scenes" if blocks else "no scenes"
        problems.append(f"{count}; an episode has 1 to {MAX_SCENES}")
    scenes = [_scene(n, block, problems) for n, block in enumerate(blocks, 1)]
    if problems:
        raise OutlineTextError(problems)
    return Outline(title=title, logline=logline, scenes=[s for s in scenes if s is not None])


@dataclass
class _Block:
    heading: str
    fields: dict[str, list[str]] = field(default_factory=dict)
    """Label (as a key of ``_LABELS``) -> the lines of its value."""
    repeated: list[str] = field(default_factory=list)
    strays: list[str] = field(default_factory=list)
    """Lines between the heading and the first label: they belong to no field."""


def _blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    current: list[str] | None = None  # the lines of the field being read, for continuations
    after_blank = True
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            after_blank = True
            continue
        label = _LABEL.match(line)
        if blocks and label:
            key = "".join(label.group(1).lower().split())
            block = blocks[-1]
            if key in block.fields:
                block.repeated.append(key)
            current = block.fields.setdefault(key, [])
            current.append(label.group(2).strip())
        elif not blocks or after_blank or _LOOKS_LIKE_HEADING.match(line):
            blocks.append(_Block(heading=_NUMBER.sub("", line, count=1).strip()))
            current = None
        elif current is not None:
            current.append(line)
        else:
            blocks[-1].strays.append(line)
        after_blank = False
    return blocks


def _scene(number: int, block: _Block, problems: list[str]) -> SceneOutline | None:
    found: list[str] = []
    heading = _heading(block.heading)
    if heading is None:
        found.append("the heading must look like INT. PLACE - TIME")
    elif len(heading[0]) > _MAX["heading"] or len(heading[2]) > _MAX["time"]:
        found.append(f"the heading is too long (max {_MAX['heading']} characters)")
    found += [f"two '{_LABELS[key]}:' lines" for key in dict.fromkeys(block.repeated)]
    found += [
        f"'{_short(line)}' is not a 'Characters:', 'Beat:' or 'Comic goal:' line"
        for line in block.strays
    ]
    values: dict[str, str] = {}
    for key, label in _LABELS.items():
        lines = block.fields.get(key)
        if lines is None:
            found.append(f"no '{label}:' line")
            continue
        values[key] = " ".join(" ".join(lines).split())
        if not values[key]:
            found.append(f"the {label.lower()} is empty")
        elif key in _MAX and len(values[key]) > _MAX[key]:
            found.append(f"the {label.lower()} is too long (max {_MAX[key]} characters)")
    characters = [c.strip() for c in values.get("characters", "").split(",") if c.strip()]
    if values.get("characters") and not characters:
        found.append("the characters are empty")
    if len(characters) > 10:
        found.append(f"{len(characters)} characters; a scene has at most 10")
    found += [f"the name '{_short(c)}' is too long (max 60)" for c in characters if len(c) > 60]
    problems.extend(f"scene {number}: {problem}" for problem in found)
    if found or heading is None:  # (found is never empty when heading is None)
        return None
    full, location, time = heading
    return SceneOutline(
        heading=full,
        location=location,
        time=time,
        characters=list(dict.fromkeys(characters)),
        beat=values["beat"],
        comic_goal=values["comicgoal"],
    )


def _heading(text: str) -> tuple[str, str, str] | None:
    """The heading in its standard form, its location and its time; None if it is not one."""
    match = _HEADING.match(" ".join(text.split()))
    if match is None:
        return None
    letters = re.sub(r"[^A-Z]", "", match.group("prefix").upper())
    prefix = _PREFIXES.get(letters, "I/E.")
    place, time = match.group("place").strip(), match.group("time").strip().upper()
    return f"{prefix} {place.upper()} - {time}", _title_case(place), time


def _title_case(place: str) -> str:
    """``COFFEE SHOP`` -> ``Coffee Shop``, ``APARTMENT 4B`` -> ``Apartment 4B``, and
    ``MCDONALD'S`` -> ``Mcdonald's`` (not ``Mcdonald'S``, as ``str.title`` would have it)."""
    return re.sub(r"[^\W\d_]+('[^\W\d_]+)?", lambda m: m.group(0).capitalize(), place)


def _line(text: str) -> str:
    """A field on one line: the text format has a line a field."""
    return " ".join(text.split())


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
