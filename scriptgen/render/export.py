"""PDF and FDX through screenplain's own exporters, from our Fountain.

Going through Fountain (rather than building screenplain objects by hand) means the PDF, the
FDX and the ``.fountain`` file are the same parse of the same text: what a writer sees in the PDF
is what their Fountain app will show.

Two of the Fountain renderer's devices need undoing after screenplain parses the text:

* ``\\_`` is the spec's escaped underscore, but screenplain only knows ``\\*`` and would print the
  backslash (and underline between two of them). Before parsing, every ``\\_`` becomes a private
  use sentinel that no emphasis rule matches; afterwards the sentinel becomes ``_`` again.
* WORD JOINERs that defused Fountain syntax are removed, so they cannot show as missing glyphs.

Both are fixed in the parsed RichStrings, and on the title page by wrapping
``Screenplay.get_rich_attribute``, which the PDF exporter calls for the title page and metadata.

These are CPU-bound (the PDF especially: reportlab lays out every page), so the public async API
in :mod:`scriptgen.render` runs them in a worker thread. reportlab keeps process-wide state (the
font registry, the document being built), so PDF builds are serialised with a lock.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from functools import cache
from typing import Any

from screenplain.export import fdx as _fdx
from screenplain.export import pdf as _pdf
from screenplain.parsers import fountain as _parser
from screenplain.types import Dialog, DualDialog, Slug

from scriptgen.models import Script
from scriptgen.render._text import WORD_JOINER
from scriptgen.render.fountain import to_fountain

__all__ = ["parse_fountain", "to_fdx", "to_pdf"]

_UNDERSCORE = "\ue7ff"  # private use; _text drops U+E700-U+E7FF from model text, so it is ours
_PDF_LOCK = threading.Lock()


def to_pdf(script: Script) -> bytes:
    """The script as a PDF, laid out by screenplain (Courier Prime, US letter)."""
    screenplay = parse_fountain(to_fountain(script))
    out = io.BytesIO()
    with _PDF_LOCK:
        _pdf.to_pdf(screenplay, out, settings=_pdf_settings())
    return out.getvalue()


def to_fdx(script: Script) -> bytes:
    """The script as Final Draft XML (UTF-8). screenplain's FDX has no title page."""
    screenplay = parse_fountain(to_fountain(script))
    out = io.StringIO()
    _fdx.to_fdx(screenplay, out)
    return out.getvalue().encode("utf-8")


def parse_fountain(text: str) -> Any:
    """Parse our Fountain with screenplain, honouring ``\\_`` and dropping WORD JOINERs.

    Returns screenplain's (untyped) ``Screenplay``.
    """
    screenplay = _parser.parse(io.StringIO(text.replace("\\_", _UNDERSCORE)))
    for paragraph in screenplay.paragraphs:
        for rich in _rich_strings(paragraph):
            _literal(rich)
    parse_attribute = screenplay.get_rich_attribute

    def get_rich_attribute(name: str, default: list[Any] | None = None) -> list[Any]:
        found: list[Any] = parse_attribute(name, [] if default is None else default)
        for rich in found:
            _literal(rich)
        return found

    screenplay.get_rich_attribute = get_rich_attribute
    return screenplay


def _rich_strings(paragraph: Any) -> Iterator[Any]:
    """Every RichString a screenplain paragraph holds, whatever its kind."""
    if isinstance(paragraph, DualDialog):
        yield from _rich_strings(paragraph.left)
        yield from _rich_strings(paragraph.right)
    elif isinstance(paragraph, Dialog):
        yield paragraph.character
        yield from (line for _, line in paragraph.blocks)
    elif isinstance(paragraph, Slug):
        yield paragraph.line
        if paragraph.scene_number is not None:
            yield paragraph.scene_number
    else:  # Action, Transition (and Section, PageBreak, which we never write)
        yield from getattr(paragraph, "lines", [])


def _literal(rich: Any) -> None:
    for segment in rich.segments:
        segment.text = segment.text.replace(_UNDERSCORE, "_").replace(WORD_JOINER, "")


@cache
def _pdf_settings() -> Any:
    """screenplain's default settings; built once, as building them registers the fonts."""
    return _pdf.Settings()
