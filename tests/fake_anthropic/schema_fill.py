"""Valid instances of a JSON schema: the fake's default answer to a forced tool.

A real model answers a forced tool with input that (usually) matches the tool's
``input_schema``; the fake does the same without being told what the schema is, so a
pipeline test needs no per-step scripting. The text is readable sitcom filler rather
than random characters, so a demo or a rendered script built on the fake still looks
like a script, and it is deterministic per seed, so a failing test can be replayed.

Covered: objects (required properties always, optional ones by coin flip),
``$defs``/``$ref``, ``allOf`` (merged), ``anyOf``/``oneOf`` incl. discriminated unions
(each branch pins its tag with ``const``), ``const``, ``enum``, ``type`` lists and
nullable unions, strings with ``minLength``/``maxLength`` and a few ``format``s,
integers and numbers with (exclusive) bounds, arrays with ``minItems``/``maxItems``
and ``prefixItems``. Not covered: ``pattern``, ``uniqueItems``, ``multipleOf``,
``not``, ``if``/``then``; a schema relying on them needs its own responder.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Mapping
from typing import Any

Schema = Mapping[str, Any]

_NAMES = ("Dana", "Marcus", "Priya", "Theo", "Gloria", "Walt", "Nessa", "Benji")
_PLACES = ("Coffee Shop", "Apartment 4B", "Office Break Room", "Laundromat", "Rooftop", "Diner")
_TIMES = ("DAY", "NIGHT", "LATER", "MORNING", "CONTINUOUS")
_PARENTHETICALS = ("deadpan", "whispering", "too loud", "to the plant", "beat", "sotto")
_VERBS = ("hides", "misplaces", "defends", "reinvents", "apologizes to", "negotiates with")
_OBJECTS = (
    "the espresso machine",
    "a rubber chicken",
    "the group chat",
    "a casserole",
    "the landlord's parrot",
    "an unsigned birthday card",
    "the thermostat",
)
_TAILS = (
    "at the worst possible moment",
    "with total confidence",
    "for the third time today",
    "while everyone watches",
    "in complete silence",
    "before anyone can stop it",
)

_MAX_DEPTH = 8
"""Past this depth only what the schema requires is generated, so recursive schemas end."""


def fill_schema(schema: Schema, seed: int = 0, *, max_items: int = 4) -> Any:
    """Return a value valid against ``schema`` (a pydantic ``model_json_schema()`` or
    an Anthropic tool ``input_schema``). ``max_items`` bounds arrays beyond their
    ``minItems`` so outputs stay small."""
    return _Filler(schema, random.Random(seed), max_items).value(schema, "", 0)


class _Filler:
    def __init__(self, root: Schema, rng: random.Random, max_items: int) -> None:
        self._root = root
        self._rng = rng
        self._max_items = max_items

    def value(self, schema: Schema, name: str, depth: int) -> Any:
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self._rng.choice(list(schema["enum"]))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.value(self._pick_branch(schema[key], depth), name, depth)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            if not kinds or (len(kinds) < len(kind) and self._wants_null(depth)):
                return None
            kind = self._rng.choice(kinds)
        if kind is None:
            kind = "array" if "items" in schema else "object" if "properties" in schema else None
            kind = kind or "string"
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, name, depth)
        if kind == "string":
            return self._string(schema, name)
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._number(schema)
        if kind == "boolean":
            return self._rng.random() < 0.5
        if kind == "null":
            return None
        raise ValueError(f"fill_schema: unsupported type {kind!r}")

    def _resolve(self, schema: Schema) -> Schema:
        """Follow ``$ref`` and flatten ``allOf`` (pydantic wraps a described ref in one);
        sibling keywords of a ``$ref`` win over the referenced schema's, as in 2020-12."""
        while "$ref" in schema or "allOf" in schema:
            merged: dict[str, Any] = {}
            if "$ref" in schema:
                merged.update(self._lookup(schema["$ref"]))
            for part in schema.get("allOf", ()):
                merged.update(self._resolve(part))
            merged.update({k: v for k, v in schema.items() if k not in ("$ref", "allOf")})
            schema = merged
        return schema

    def _lookup(self, ref: str) -> Schema:
        if not ref.startswith("#/"):
            raise ValueError(f"fill_schema: only local $refs are supported, not {ref!r}")
        node: Any = self._root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node  # type: ignore[no-any-return]

    def _wants_null(self, depth: int) -> bool:
        return depth >= _MAX_DEPTH or self._rng.random() < 0.25

    def _pick_branch(self, branches: list[Schema], depth: int) -> Schema:
        resolved = [self._resolve(b) for b in branches]
        non_null = [b for b in resolved if b.get("type") != "null"]
        if not non_null or (len(non_null) < len(resolved) and self._wants_null(depth)):
            return {"type": "null"}
        return self._rng.choice(non_null)

    def _object(self, schema: Schema, depth: int) -> dict[str, Any]:
        required = set(schema.get("required", ()))
        result: dict[str, Any] = {}
        for prop, sub in schema.get("properties", {}).items():
            if prop in required or (depth < _MAX_DEPTH and self._rng.random() < 0.5):
                result[prop] = self.value(sub, prop, depth + 1)
        return result

    def _array(self, schema: Schema, name: str, depth: int) -> list[Any]:
        prefix = list(schema.get("prefixItems", ()))
        low = max(int(schema.get("minItems", 0)), len(prefix))
        high = int(schema.get("maxItems", low + self._max_items))
        high = min(high, low + (self._max_items if depth < _MAX_DEPTH else 0))
        count = self._rng.randint(low, max(low, high))
        items = schema.get("items", {})
        item_name = name[:-1] if name.endswith("s") else name
        return [
            self.value(prefix[i] if i < len(prefix) else items, item_name, depth + 1)
            for i in range(count)
        ]

    def _integer(self, schema: Schema) -> int:
        low = schema.get("minimum")
        if "exclusiveMinimum" in schema:
            low = int(schema["exclusiveMinimum"]) + 1
        high = schema.get("maximum")
        if "exclusiveMaximum" in schema:
            high = int(schema["exclusiveMaximum"]) - 1
        low = int(low) if low is not None else (0 if high is None else int(high) - 10)
        high = int(high) if high is not None else low + 10
        return self._rng.randint(low, high)

    def _number(self, schema: Schema) -> float:
        low = float(schema.get("minimum", schema.get("exclusiveMinimum", 0.0)))
        high = float(schema.get("maximum", schema.get("exclusiveMaximum", low + 10.0)))
        value = self._rng.uniform(low, high)
        if "exclusiveMinimum" in schema or "exclusiveMaximum" in schema:
            value = (low + high) / 2  # strictly inside both bounds
        return value

    def _string(self, schema: Schema, name: str) -> str:
        low = int(schema.get("minLength", 0))
        high = int(schema.get("maxLength", max(low, 160)))
        fmt = schema.get("format")
        if fmt is not None and fmt in _FORMATS:
            return _FORMATS[fmt](self._rng)
        text = self._text_for(name.lower())
        while len(text) < low:
            text = f"{text} {self._sentence()}"
        text = text[:high]
        if len(text.rstrip()) >= low:
            text = text.rstrip()
        return text

    def _text_for(self, name: str) -> str:
        rng = self._rng
        if name in ("character", "name", "speaker"):
            return rng.choice(_NAMES)
        if name in ("heading", "slugline"):
            return f"INT. {rng.choice(_PLACES).upper()} - {rng.choice(_TIMES)}"
        if name in ("location", "setting", "place"):
            return rng.choice(_PLACES)
        if name == "time":
            return rng.choice(_TIMES)
        if name == "parenthetical":
            return rng.choice(_PARENTHETICALS)
        if name in ("title", "show_title"):
            return f"The One With {rng.choice(_OBJECTS).split(' ', 1)[1].title()}"
        return self._sentence()

    def _sentence(self) -> str:
        rng = self._rng
        name, verb, thing, tail = (rng.choice(pool) for pool in (_NAMES, _VERBS, _OBJECTS, _TAILS))
        return f"{name} {verb} {thing} {tail}."


def _hex(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(string.hexdigits.lower()[:16]) for _ in range(length))


_FORMATS: dict[str, Callable[[random.Random], str]] = {
    "date-time": lambda rng: f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T12:00:00Z",
    "date": lambda rng: f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
    "time": lambda rng: f"1{rng.randint(0, 9)}:30:00",
    "email": lambda rng: f"{_hex(rng, 6)}@example.com",
    "uri": lambda rng: f"https://example.com/{_hex(rng, 8)}",
    "uuid": lambda rng: "-".join(_hex(rng, n) for n in (8, 4, 4, 4, 12)),
}
