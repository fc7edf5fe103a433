"""A Script as Fountain text that a Fountain parser reads back element for element.

The model's text is data, never markup: whatever it wrote, a heading must parse as a heading, a
line of dialogue as that character's dialogue, and so on. Fountain guesses an element's kind from
its shape (upper case, ``INT.``, ``TO:``, a leading ``#``...), so every element is *forced*, and
every character that could start markup inside it is escaped or defused. The target parser is
screenplain, which also makes our PDF and FDX; where the spec offers an escape screenplain lacks,
the spec wins in the file and :mod:`scriptgen.render.export` bridges the gap (see ``_`` below).

Rendering decisions (text is first cleaned as described in :mod:`scriptgen.render._text`):

* **Scene headings** are forced with ``.`` (``. `` when the heading itself starts with a dot,
  since ``..`` is not a forced heading), upper-cased as on every screenplay page (screenplain
  upper-cases them anyway), and numbered ``#n#`` by their position in the script. The numbers
  match the comedy report's 1-based scene numbers, and as the last ``#...#`` on the line they
  stop a model's own ``#3#`` from being read as a scene number. A blank heading is omitted.
* **Character cues** are upper-cased: that is what a screenwriter expects on the page, and it
  makes "Jerry" and "JERRY" from two model calls the same person. A cue is written bare when it
  is plainly a name (``JERRY``, ``MR. T``, ``JERRY (V.O.)``) and forced with ``@`` otherwise
  (``@#1 FAN``, ``@ÑANDÚ``, ``@33``, ``@黒澤``: punctuation that starts markup, non-ASCII, no
  cased letter...), so every parser reads it as a cue. A blank name becomes ``UNNAMED``.
* **Parentheticals** get exactly one pair of parentheses whether or not the model wrote them,
  and are one line. A blank one is omitted.
* **Dialogue** keeps its line breaks; a blank line inside it is written as two spaces, Fountain's
  way to keep the speech going. Whitespace-only dialogue without a parenthetical is omitted.
* **Action** is always forced with ``!``, not only when it looks like something else: deciding
  what it looks like to every parser is the very guess this module must not make. Blank lines
  inside it start a new, again forced, action paragraph (how a screenwriter would type it).
  Whitespace-only action is omitted.
* **Transitions** are forced with ``>`` and upper-cased (screenplain does so too).
* **Escapes**: ``*`` is always ``\\*`` (which also makes a boneyard ``/*`` impossible). ``_`` is
  ``\\_`` (the spec's escape) when two underscores on a line could pair up into underlining, or
  when the model put a backslash right before it; a lone ``_`` stays as it is.
  screenplain does not implement ``\\_`` (it keeps the backslash), which is why the exporters
  parse through a shim that turns ``\\_`` back into a literal underscore.
* **Invisible breaks**: a WORD JOINER (U+2060, zero-width, not whitespace) is inserted where no
  escape exists: between ``[[`` (a note), before a dialogue line starting with ``(`` (it would
  become a parenthetical), before a dialogue line or a non-first action line starting with
  ``!`` (screenplain strips it), ``~`` (a lyric) or ``>`` (centred text), after a transition
  ending in ``<`` (centred text) and after a cue ending in ``^`` (dual dialogue). The exporters
  remove them again.
"""

from __future__ import annotations

import re
from datetime import date

from scriptgen.models import Action, Dialogue, Scene, Script, Transition
from scriptgen.render._text import (
    WORD_JOINER,
    author_lines,
    cue_text,
    heading_text,
    lines,
    one_line,
    paragraphs,
    parenthetical_text,
    title_of,
    transition_text,
)

__all__ = ["to_fountain"]

_PLAIN_CUE = re.compile(r"[A-Z][A-Z0-9 .,'&-]*(?: ?\([A-Z0-9 .,'&-]*\))?")
_LIKE_HEADING = re.compile(r"(?:INT|EXT|EST|I/E)[ ./]")
_DIALOGUE_STARTERS = ("(", "!", "~", ">")
_CONTINUATION_STARTERS = ("!", "~", ">")
_BLANK_DIALOGUE_LINE = "  "


def to_fountain(script: Script, *, draft_date: date | None = None) -> str:
    """The script as Fountain source: a title page, then every scene in order.

    `draft_date` defaults to today; pass one to get the same text twice.
    """
    blocks = [_title_page(script, draft_date or date.today())]
    for number, scene in enumerate(script.scenes, start=1):
        blocks.extend(_scene(number, scene))
    return "\n\n".join(blocks) + "\n"


def _title_page(script: Script, draft_date: date) -> str:
    fields = [
        ("Title", [title_of(script)]),
        ("Credit", ["Written by"]),
        ("Author", author_lines(script)),
        ("Draft date", [draft_date.isoformat()]),
        ("Notes", [one_line(script.outline.logline)]),
    ]
    out: list[str] = []
    for key, values in fields:
        escaped = [_inline(value) for value in values if value]
        if len(escaped) == 1:
            out.append(f"{key}: {escaped[0]}")
        elif escaped:
            # Several values: the indented form, one per line (3+ spaces mark a continuation).
            out.append(f"{key}:")
            out.extend(f"    {value}" for value in escaped)
    return "\n".join(out)


def _scene(number: int, scene: Scene) -> list[str]:
    blocks: list[str] = []
    heading = heading_text(scene.heading)
    if heading:
        force = ". " if heading.startswith(".") else "."
        blocks.append(f"{force}{_inline(heading)} #{number}#")
    for element in scene.elements:
        if isinstance(element, Action):
            blocks.extend(_action(element))
        elif isinstance(element, Dialogue):
            blocks.extend(_dialogue(element))
        elif isinstance(element, Transition):
            blocks.extend(_transition(element))
    return blocks


def _action(action: Action) -> list[str]:
    blocks = []
    for first, *rest in paragraphs(action.text):
        body = [_defuse(_inline(line), _CONTINUATION_STARTERS) for line in rest]
        blocks.append("\n".join(["!" + _inline(first), *body]))
    return blocks


def _dialogue(dialogue: Dialogue) -> list[str]:
    parenthetical = parenthetical_text(dialogue.parenthetical)
    speech = lines(dialogue.line)
    if parenthetical is None and not speech:
        return []
    block = [_cue(dialogue.character)]
    if parenthetical is not None:
        block.append(_inline(parenthetical))
    block.extend(
        _defuse(_inline(line), _DIALOGUE_STARTERS) if line else _BLANK_DIALOGUE_LINE
        for line in speech
    )
    return ["\n".join(block)]


def _transition(transition: Transition) -> list[str]:
    text = transition_text(transition.text)
    if not text:
        return []
    line = _inline(text)
    if line.endswith("<"):
        line += WORD_JOINER
    return [f"> {line}"]


def _cue(name: str) -> str:
    cue = cue_text(name)
    line = _inline(cue)
    if line.endswith("^"):
        line += WORD_JOINER
    plain = (
        _PLAIN_CUE.fullmatch(cue) is not None
        and not _LIKE_HEADING.match(cue)
        and not cue.endswith("TO:")
    )
    return line if plain else "@" + line


def _inline(line: str) -> str:
    """Escape what would otherwise be emphasis, a note or a boneyard inside one line."""
    pair_up = line.count("_") >= 2
    out: list[str] = []
    previous = ""
    for char in line:
        if char == "*":
            out.append("\\*")
        elif char == "_" and (pair_up or previous == "\\"):
            out.append("\\_")
        elif char == "[" and previous == "[":
            out.append(WORD_JOINER + "[")
        else:
            out.append(char)
        previous = char
    return "".join(out)


def _defuse(line: str, starters: tuple[str, ...]) -> str:
    """Keep a line from being read as the markup its first character would start."""
    return WORD_JOINER + line if line.startswith(starters) else line
