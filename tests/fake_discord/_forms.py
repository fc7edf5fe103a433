"""Discord's checks on the two callback bodies that are not messages: a modal
(type 9) and autocomplete choices (type 8).

A bot that overflows a limit (a sixth field, a 4001-character prefilled value,
a 26th choice) gets the 400 "Invalid Form Body" (code 50035) Discord answers,
with ``errors`` nested along the offending path, so the bug shows in tests
rather than as a modal that never opens in production.
"""

from __future__ import annotations

from typing import Any

from ._models import JSON
from ._replies import Reply

MAX_MODAL_COMPONENTS = 5
MAX_CHOICES = 25
ACTION_ROW = 1
TEXT_INPUT = 4
LABEL = 18

Path = tuple[str, ...]


class _Errors:
    """Collects ``(path, message)`` problems and renders Discord's nested ``errors``."""

    def __init__(self) -> None:
        self.found: list[tuple[Path, str, str]] = []

    def length(self, path: Path, value: Any, low: int, high: int, *, required: bool) -> None:
        """``value`` (a string or list) must hold ``low``..``high`` items/characters."""
        if value is None:
            if required:
                self.found.append((path, "BASE_TYPE_REQUIRED", "This field is required"))
            return
        size = len(value) if isinstance(value, str | list) else -1
        if not low <= size <= high:
            message = f"Must be between {low} and {high} in length."
            self.found.append((path, "BASE_TYPE_BAD_LENGTH", message))

    def add(self, path: Path, code: str, message: str) -> None:
        """Any other problem."""
        self.found.append((path, code, message))

    def reply(self) -> Reply | None:
        """The 400 Discord answers, or None when nothing was wrong."""
        if not self.found:
            return None
        errors: JSON = {}
        for path, code, message in self.found:
            node = errors
            for key in path:
                node = node.setdefault(key, {})
            node.setdefault("_errors", []).append({"code": code, "message": message})
        return Reply(400, {"message": "Invalid Form Body", "code": 50035, "errors": errors})


def validate_choices(data: JSON) -> Reply | None:
    """An autocomplete answer: at most 25 choices, names 1-100, string values <= 100."""
    errs = _Errors()
    choices = data.get("choices")
    errs.length(("data", "choices"), choices, 0, MAX_CHOICES, required=True)
    for n, choice in enumerate(choices if isinstance(choices, list) else []):
        path = ("data", "choices", str(n))
        if not isinstance(choice, dict):
            errs.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        errs.length((*path, "name"), choice.get("name"), 1, 100, required=True)
        value = choice.get("value")
        if isinstance(value, str):
            errs.length((*path, "value"), value, 0, 100, required=True)
        elif not isinstance(value, int | float) or isinstance(value, bool):
            errs.add((*path, "value"), "BASE_TYPE_REQUIRED", "This field is required")
    return errs.reply()


def validate_modal(data: JSON) -> Reply | None:
    """A modal: title 1-45, custom_id 1-100, 1-5 rows or labels each holding one
    input whose limits (label 45, value and lengths 4000, placeholder 100) hold."""
    errs = _Errors()
    errs.length(("data", "title"), data.get("title"), 1, 45, required=True)
    errs.length(("data", "custom_id"), data.get("custom_id"), 1, 100, required=True)
    components = data.get("components")
    errs.length(("data", "components"), components, 1, MAX_MODAL_COMPONENTS, required=True)
    seen: set[str] = set()
    for n, comp in enumerate(components if isinstance(components, list) else []):
        path: Path = ("data", "components", str(n))
        if not isinstance(comp, dict):
            errs.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        elif comp.get("type") == ACTION_ROW:
            children = comp.get("components")
            errs.length((*path, "components"), children, 1, 1, required=True)
            for k, child in enumerate(children if isinstance(children, list) else []):
                _check_input(errs, (*path, "components", str(k)), child, seen, in_label=False)
        elif comp.get("type") == LABEL:
            errs.length((*path, "label"), comp.get("label"), 1, 45, required=True)
            errs.length((*path, "description"), comp.get("description"), 0, 100, required=False)
            _check_input(errs, (*path, "component"), comp.get("component"), seen, in_label=True)
        else:
            _check_input(errs, path, comp, seen, in_label=False)
    return errs.reply()


def _check_input(errs: _Errors, path: Path, comp: Any, seen: set[str], *, in_label: bool) -> None:
    if not isinstance(comp, dict):
        errs.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        return
    custom_id = comp.get("custom_id")
    if comp.get("type") in (ACTION_ROW, LABEL):
        errs.add((*path, "type"), "COMPONENT_LAYOUT_INVALID", "A layout cannot nest here")
        return
    if "custom_id" in comp or comp.get("type") == TEXT_INPUT:
        errs.length((*path, "custom_id"), custom_id, 1, 100, required=True)
        if isinstance(custom_id, str):
            if custom_id in seen:
                errs.add(
                    (*path, "custom_id"),
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                )
            seen.add(custom_id)
    if comp.get("type") != TEXT_INPUT:
        return
    if comp.get("style") not in (1, 2):
        errs.add((*path, "style"), "BASE_TYPE_CHOICES", "Value must be one of (1, 2).")
    # Inside a Label the label is the Label's; a bare (row-wrapped) text input needs its own.
    errs.length((*path, "label"), comp.get("label"), 1, 45, required=not in_label)
    errs.length((*path, "value"), comp.get("value"), 0, 4000, required=False)
    errs.length((*path, "placeholder"), comp.get("placeholder"), 0, 100, required=False)
    for key, low in (("min_length", 0), ("max_length", 1)):
        limit = comp.get(key)
        if limit is not None and not (isinstance(limit, int) and low <= limit <= 4000):
            message = f"int value should be between {low} and 4000."
            errs.add((*path, key), "NUMBER_TYPE_MAX", message)
