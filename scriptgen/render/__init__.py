"""A finished Script as a file: Fountain, PDF, Final Draft (FDX) or Markdown.

Fountain is the source of truth: the PDF and FDX are screenplain's renderings of our Fountain, so
all three show the same elements. Markdown is a separate, reader-friendly rendering of the same
cleaned text.

:func:`render` is the one to call from async code (the bot): PDF and FDX layout is CPU-bound and
runs in a worker thread so the event loop keeps serving; Fountain and Markdown are string
building and run inline. :func:`render_sync` is for the CLI and tests.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, get_args

from scriptgen.models import Script
from scriptgen.render.export import to_fdx, to_pdf
from scriptgen.render.fountain import to_fountain
from scriptgen.render.markdown import to_markdown

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "Format",
    "filename_for",
    "render",
    "render_sync",
    "safe_stem",
    "to_fdx",
    "to_fountain",
    "to_markdown",
    "to_pdf",
]

Format = Literal["fountain", "pdf", "fdx", "md"]
FORMATS: tuple[Format, ...] = get_args(Format)

MEDIA_TYPES: Mapping[Format, str] = MappingProxyType(
    {
        "fountain": "text/plain; charset=utf-8",
        "pdf": "application/pdf",
        "fdx": "application/xml",
        "md": "text/markdown; charset=utf-8",
    }
)

_THREADED: frozenset[Format] = frozenset({"pdf", "fdx"})
_MAX_STEM_BYTES = 100  # well under every filesystem's 255-byte name limit, extension included
_UNSAFE = re.compile(r'[\\/:*?"<>|]')  # separators and what Windows refuses in a name
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
)


def render_sync(script: Script, fmt: Format) -> bytes:
    """The script in `fmt`, as the bytes of a file (text formats are UTF-8)."""
    if fmt == "fountain":
        return to_fountain(script).encode("utf-8")
    if fmt == "md":
        return to_markdown(script).encode("utf-8")
    if fmt == "pdf":
        return to_pdf(script)
    if fmt == "fdx":
        return to_fdx(script)
    raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")


async def render(script: Script, fmt: Format) -> bytes:
    """Like :func:`render_sync`, with PDF and FDX built in a worker thread."""
    if fmt in _THREADED:
        return await asyncio.to_thread(render_sync, script, fmt)
    return render_sync(script, fmt)


def filename_for(script: Script, fmt: Format, *, suffix: str = "") -> str:
    """A safe file name for the script, e.g. ``The Haunted Espresso Machine.fountain``, or
    ``The Haunted Espresso Machine v2.fountain`` with ``suffix=" v2"``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return f"{safe_stem(script.title)}{suffix}.{fmt}"


def safe_stem(title: str) -> str:
    """A file name's stem made from a title, without extension.

    The title is a model's (or a user's) text: path separators, characters Windows forbids,
    control and format characters (including bidi overrides that could disguise the extension)
    are removed, whitespace is collapsed, leading dots and dashes go (no hidden files, no
    command-line options), the name is cut to a bounded number of UTF-8 bytes, and Windows'
    reserved device names are avoided. An empty result becomes "Untitled".
    """
    kept = []
    for char in unicodedata.normalize("NFC", title):
        category = unicodedata.category(char)
        if category.startswith("C") and category != "Cc":
            continue  # format (bidi overrides...), surrogate, private use, unassigned
        space = category == "Cc" or category.startswith("Z") or _UNSAFE.match(char)
        kept.append(" " if space else char)
    stem = " ".join("".join(kept).split()).lstrip(".- ")
    stem = stem.encode("utf-8")[:_MAX_STEM_BYTES].decode("utf-8", "ignore").rstrip(". ")
    if not stem:
        stem = "Untitled"
    if stem.split(".")[0].strip().upper() in _RESERVED:
        stem = f"{stem} (script)"
    return stem
