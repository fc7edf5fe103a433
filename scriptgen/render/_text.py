"""Text clean-up shared by the renderers: what a model's string becomes before any markup.

Every renderer starts from the same normalised lines so that the Fountain, Markdown, PDF and FDX
versions of a script say the same words. The rules are deliberately few, and the tests restate
them independently:

* A line break is anything :meth:`str.splitlines` calls one (``\\r\\n``, ``\\r``, U+2028...), so
  no renderer meets a "line separator" it does not know about.
* Characters no output can carry are dropped: C0/C1 controls other than the tab (XML 1.0 forbids
  most of them, so an FDX would not parse), surrogates (not encodable as UTF-8), U+FFFE/U+FFFF,
  U+2060 WORD JOINER (the Fountain renderer's own invisible separator) and U+E700-U+E7FF (private
  use code points that screenplain uses as in-band style markers).
* Tabs are expanded to 4-column stops, as Fountain parsers do, then each line is stripped:
  indentation in a model's prose is noise, not layout, and Fountain drops it in dialogue anyway.
* Leading and trailing blank lines are dropped; blank lines inside the text are kept where the
  element can hold them (dialogue, action).
"""

from __future__ import annotations

import re

from scriptgen.models import Script

WORD_JOINER = "\u2060"
"""Invisible, zero-width and not whitespace: breaks a Fountain pattern without changing the page."""

DEMO_NOTE = "Demo draft: written by the offline demo provider, not a language model"

_DROP = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2060\ue700-\ue7ff\ud800-\udfff\ufffe\uffff]")


def lines(text: str) -> list[str]:
    """The cleaned, stripped lines of `text`, without leading or trailing blank lines."""
    out = [_DROP.sub("", raw).expandtabs(4).strip() for raw in text.splitlines()]
    while out and not out[-1]:
        out.pop()
    first = next((i for i, line in enumerate(out) if line), len(out))
    return out[first:]


def one_line(text: str) -> str:
    """`text` as a single line: for elements a page prints on one line (cues, headings...)."""
    return " ".join(line for line in lines(text) if line)


def paragraphs(text: str) -> list[list[str]]:
    """The runs of non-blank lines of `text`: one per action paragraph."""
    out: list[list[str]] = [[]]
    for line in lines(text):
        if line:
            out[-1].append(line)
        elif out[-1]:
            out.append([])
    return [para for para in out if para]


def title_of(script: Script) -> str:
    """The title as printed: one line, never empty."""
    return one_line(script.title) or "Untitled"


def author_lines(script: Script) -> list[str]:
    """Who wrote it: Showrunner and the model, plus a warning when no model wrote it at all.

    The demo provider writes canned text offline; a reader must not mistake it for a real draft.
    """
    byline = [f"Showrunner ({one_line(script.model) or 'unknown model'})"]
    return [*byline, DEMO_NOTE] if script.provider == "demo" else byline


def heading_text(heading: str) -> str:
    """A scene heading as printed: one line, upper case as on any screenplay page."""
    return one_line(heading).upper().strip()


def cue_text(name: str) -> str:
    """A character cue as printed: one line, upper case, never empty."""
    return one_line(name).upper().strip() or "UNNAMED"


def parenthetical_text(text: str | None) -> str | None:
    """A parenthetical in exactly one pair of parentheses, whether or not the model wrote them.

    None when there is nothing inside.
    """
    if text is None:
        return None
    inner = one_line(text).removeprefix("(").removesuffix(")").strip()
    return f"({inner})" if inner else None


def transition_text(text: str) -> str:
    """A transition as printed: one line, upper case."""
    return one_line(text).upper().strip()
