"""A room's series bible as a file writers edit: YAML (or JSON) in, YAML out.

A writer uploads a file and gets back either a whole valid bible or every problem in it, each
named by where it is (``characters[2].voice: too long (max 300)``, counted from 1 as writers
count), so one round of fixes is enough. Nothing partial is ever returned. The limits keep the
bible (which is in every call's cached prefix) within a token budget.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from scriptgen.errors import ScriptgenError
from scriptgen.models import Character, SeriesBible
from scriptgen.prompts import render_bible
from scriptgen.tokens import estimate_tokens

__all__ = [
    "MAX_BIBLE_FILE_BYTES",
    "MAX_BIBLE_TOKENS",
    "MAX_CHARACTERS",
    "MAX_GAGS",
    "MAX_GAG_CHARS",
    "BibleError",
    "bible_markdown",
    "bible_tokens",
    "check_bible",
    "dump_bible",
    "parse_bible",
]

MAX_CHARACTERS = 20
MAX_GAGS = 20
MAX_GAG_CHARS = 300
MAX_BIBLE_TOKENS = 4000
MAX_BIBLE_FILE_BYTES = 256 * 1024

_FIELDS = {"name": 120, "logline": 500, "tone": 200, "setting": 1000}
"""The bible's text fields and their limits (those of :class:`SeriesBible`)."""
_CHARACTER_FIELDS = {"name": 60, "description": 300, "voice": 300}
_KNOWN = (*_FIELDS, "characters", "running_gags")


class BibleError(ScriptgenError):
    """The bible cannot be used as it is; ``problems`` says every reason, one a line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def parse_bible(data: bytes, filename: str) -> SeriesBible:
    """The bible in ``data``: JSON if ``filename`` ends in ``.json``, YAML otherwise.

    Raises :class:`BibleError` listing every problem found.
    """
    if len(data) > MAX_BIBLE_FILE_BYTES:
        size, limit = len(data) // 1024, MAX_BIBLE_FILE_BYTES // 1024
        raise BibleError([f"the file is {size:,} KB; the limit is {limit} KB"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BibleError(
            [f"the file is not UTF-8 text (byte {err.start + 1:,}): save it as UTF-8"]
        ) from None
    document = _load(text, filename)
    if document is None:
        raise BibleError(["the file is empty: a bible needs at least a name"])
    if not isinstance(document, Mapping):
        raise BibleError(
            [f"the bible must be a mapping of {', '.join(_KNOWN)}, not {_kind(document)}"]
        )
    problems: list[str] = [
        f"{key}: unknown field" for key in document if not (isinstance(key, str) and key in _KNOWN)
    ]
    texts = {
        key: _text(document.get(key), key, limit, problems, required=key == "name")
        for key, limit in _FIELDS.items()
    }
    characters = _characters(document.get("characters"), problems)
    gags = _gags(document.get("running_gags"), problems)
    if problems:
        raise BibleError(problems)
    bible = SeriesBible(
        show_title=texts["name"],
        logline=texts["logline"],
        tone=texts["tone"],
        setting=texts["setting"],
        characters=characters,
        running_gags=gags,
    )
    check_bible(bible)
    return bible


def bible_tokens(bible: SeriesBible) -> int:
    """About how many tokens the bible adds to every call's prompt."""
    return estimate_tokens(render_bible(bible))


def check_bible(bible: SeriesBible) -> None:
    """Raise :class:`BibleError` if the bible is past a limit (checked before saving any edit)."""
    problems: list[str] = []
    if len(bible.characters) > MAX_CHARACTERS:
        problems.append(
            f"characters: {len(bible.characters)} characters; the limit is {MAX_CHARACTERS}"
        )
    if len(bible.running_gags) > MAX_GAGS:
        problems.append(f"running_gags: {len(bible.running_gags)} gags; the limit is {MAX_GAGS}")
    for n, gag in enumerate(bible.running_gags, 1):
        if len(gag) > MAX_GAG_CHARS:
            problems.append(f"running_gags[{n}]: too long (max {MAX_GAG_CHARS})")
    tokens = bible_tokens(bible)
    if tokens > MAX_BIBLE_TOKENS:
        problems.append(f"the bible is about {tokens:,} tokens; the limit is {MAX_BIBLE_TOKENS:,}")
    if problems:
        raise BibleError(problems)


def dump_bible(bible: SeriesBible) -> str:
    """The bible as YAML that :func:`parse_bible` reads back equal, for writers to edit."""
    document = {
        "name": bible.show_title,
        "logline": bible.logline,
        "tone": bible.tone,
        "setting": bible.setting,
        "characters": [
            {"name": c.name, "description": c.description, "voice": c.voice}
            for c in bible.characters
        ],
        "running_gags": list(bible.running_gags),
    }
    header = (
        "# The series bible. Edit it and upload it again to replace the room's bible.\n"
        f"# Up to {MAX_CHARACTERS} characters (name, description, voice) and {MAX_GAGS} running "
        f"gags; about {MAX_BIBLE_TOKENS:,} tokens in all.\n"
    )
    body = yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, indent=2
    )
    return header + body


def bible_markdown(bible: SeriesBible) -> str:
    """The whole bible as Markdown, for when it does not fit an embed."""
    parts = [f"# {_md(bible.show_title) or 'Untitled series'}"]
    if bible.logline:
        parts.append(f"*{_md(bible.logline)}*")
    facts = [f"**{label}:** {_md(value)}" for label, value in _facts(bible) if value]
    if facts:
        parts.append("\n".join(facts))
    if bible.characters:
        parts.append("## Characters\n" + "\n".join(_character_md(c) for c in bible.characters))
    if bible.running_gags:
        parts.append("## Running gags\n" + "\n".join(f"- {_md(g)}" for g in bible.running_gags))
    if bible.previous_episodes:
        parts.append("## Previously\n" + "\n".join(f"- {_md(e)}" for e in bible.previous_episodes))
    return "\n\n".join(parts) + "\n"


# -- reading ------------------------------------------------------------------------------------


def _load(text: str, filename: str) -> Any:
    if filename.lower().endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise BibleError(
                [f"JSON syntax error at line {err.lineno}, column {err.colno}: {err.msg}"]
            ) from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}" if mark is not None else ""
        what = err.problem or err.context or "not valid YAML"
        raise BibleError([f"YAML syntax error{where}: {what}"]) from None
    except yaml.YAMLError as err:
        raise BibleError([f"YAML syntax error: {err}"]) from None


def _text(value: Any, path: str, limit: int, problems: list[str], *, required: bool) -> str:
    """The field's text, stripped; or "" with its problem added."""
    if value is None:
        value = ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        problems.append(f"{path}: must be text (put it in quotes)")
        return ""
    text = str(value).strip()
    if required and not text:
        problems.append(f"{path}: required")
    elif len(text) > limit:
        problems.append(f"{path}: too long (max {limit})")
    return text


def _characters(value: Any, problems: list[str]) -> list[Character]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append("characters: must be a list of characters (name, description, voice)")
        return []
    if len(value) > MAX_CHARACTERS:
        problems.append(f"characters: {len(value)} characters; the limit is {MAX_CHARACTERS}")
    characters: list[Character] = []
    seen: set[str] = set()
    for n, item in enumerate(value, 1):
        path = f"characters[{n}]"
        if not isinstance(item, Mapping):
            problems.append(f"{path}: must be a mapping with name, description and voice")
            continue
        problems.extend(
            f"{path}.{key}: unknown field"
            for key in item
            if not (isinstance(key, str) and key in _CHARACTER_FIELDS)
        )
        before = len(problems)
        texts = {
            key: _text(item.get(key), f"{path}.{key}", limit, problems, required=key == "name")
            for key, limit in _CHARACTER_FIELDS.items()
        }
        name = texts["name"]
        if name and name.casefold() in seen:
            problems.append(f'{path}.name: "{name}" appears twice')
        seen.add(name.casefold())
        if len(problems) == before:
            characters.append(Character(**texts))
    return characters


def _gags(value: Any, problems: list[str]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append("running_gags: must be a list of lines of text")
        return []
    if len(value) > MAX_GAGS:
        problems.append(f"running_gags: {len(value)} gags; the limit is {MAX_GAGS}")
    gags: list[str] = []
    seen: set[str] = set()
    for n, item in enumerate(value, 1):
        path = f"running_gags[{n}]"
        before = len(problems)
        gag = _text(item, path, MAX_GAG_CHARS, problems, required=True)
        key = " ".join(gag.split()).casefold()
        if gag and key in seen:
            problems.append(f'{path}: "{_short(gag)}" appears twice')
        seen.add(key)
        if len(problems) == before:
            gags.append(gag)
    return gags


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a line of text"
    return f"a {type(value).__name__}"


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- writing ------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Writes text of several lines as a block (``|``), the way a writer would type it."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style: str | None = None
    if any(_unusual(ch) for ch in text):
        style = '"'  # escaped: YAML reads other line breaks and controls its own way
    elif "\n" in text:
        style = "|"
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def _unusual(ch: str) -> bool:
    return (ch < " " and ch not in "\n\t") or ch in "\x7f\x85\u2028\u2029\ufeff"


_Dumper.add_representer(str, _represent_text)


def _facts(bible: SeriesBible) -> list[tuple[str, str]]:
    return [("Tone", bible.tone), ("Setting", bible.setting)]


def _character_md(character: Character) -> str:
    line = f"- **{_md(character.name)}**"
    if character.description:
        line += f": {_md(character.description)}"
    if character.voice:
        line += f"\n  *Voice:* {_md(character.voice)}"
    return line


def _md(text: str) -> str:
    """Text shown as itself in Markdown (Discord's included): its markup characters escaped."""
    return "".join(f"\\{ch}" if ch in "\\*_~`|>#[]" else ch for ch in text)
