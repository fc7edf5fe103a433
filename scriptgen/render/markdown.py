"""A Script as Markdown, for reading in a browser or on GitHub.

The layout is a reader's, not a production draft's: the title as the page heading, the logline
in italics, each scene as a numbered second-level heading, cues in bold with the parenthetical in
italics under them, and transitions in italics. Lines of one element are joined with hard breaks
(a backslash at the end of the line), so a speech keeps its shape; a blank line inside an element
starts a new paragraph.

Model text is escaped so it cannot make structure: anything that is markup wherever it stands
(``\\ ` * _ [ ] < > & | ~ $ #``) is backslash-escaped everywhere, which rules out emphasis,
code, links, images, raw HTML, entities, tables, strikethrough and GitHub's ``$math$``; and what
is markup only at the start of a line (``-``, ``+``, ``=`` and ``1.``/``1)``) is escaped there.
Lines are already stripped (see :mod:`scriptgen.render._text`), so no text is ever indented into
a code block. Other punctuation is left alone so the source stays readable.
"""

from __future__ import annotations

import re

from scriptgen.models import Action, Dialogue, Scene, Script, Transition
from scriptgen.render._text import (
    author_lines,
    cue_text,
    heading_text,
    one_line,
    paragraphs,
    parenthetical_text,
    title_of,
    transition_text,
)

__all__ = ["to_markdown"]

_ANYWHERE = re.compile(r"([\\`*_\[\]<>&|~$#])")
_LINE_START = re.compile(r"[-+=]|\d{1,9}[.)]")
_HARD_BREAK = "\\\n"


def to_markdown(script: Script) -> str:
    """The script as CommonMark (GitHub-safe) text."""
    blocks = [f"# {escape(title_of(script))}"]
    logline = one_line(script.outline.logline)
    if logline:
        blocks.append(f"*{escape(logline)}*")
    author, *notes = author_lines(script)
    blocks.append(f"Written by {escape(author)}")
    blocks.extend(f"> **Note:** {escape(note)}" for note in notes)
    for number, scene in enumerate(script.scenes, start=1):
        blocks.extend(_scene(number, scene))
    return "\n\n".join(blocks) + "\n"


def escape(line: str) -> str:
    """One line of model text as literal Markdown inline text."""
    line = _ANYWHERE.sub(r"\\\1", line)
    start = _LINE_START.match(line)
    if start:
        end = start.end()
        line = line[: end - 1] + "\\" + line[end - 1 :]
    return line


def _scene(number: int, scene: Scene) -> list[str]:
    heading = heading_text(scene.heading)
    blocks = [f"## {number}. {escape(heading)}".rstrip()]
    for element in scene.elements:
        if isinstance(element, Action):
            blocks.extend(_join(para) for para in paragraphs(element.text))
        elif isinstance(element, Dialogue):
            blocks.extend(_dialogue(element))
        elif isinstance(element, Transition):
            text = transition_text(element.text)
            if text:
                blocks.append(f"*{escape(text)}*")
    return blocks


def _dialogue(dialogue: Dialogue) -> list[str]:
    parenthetical = parenthetical_text(dialogue.parenthetical)
    speech = paragraphs(dialogue.line)
    if parenthetical is None and not speech:
        return []
    head = [f"**{escape(cue_text(dialogue.character))}**"]
    if parenthetical is not None:
        head.append(f"*{escape(parenthetical)}*")
    first, *rest = speech or [[]]
    blocks = [_HARD_BREAK.join([*head, *(escape(line) for line in first)])]
    blocks.extend(_join(para) for para in rest)
    return blocks


def _join(para: list[str]) -> str:
    return _HARD_BREAK.join(escape(line) for line in para)
