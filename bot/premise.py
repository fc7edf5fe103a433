"""A writer's premise as typed in Discord, made into plain words for the writers' room.

Mentions are Discord syntax, not story: ``<@123>`` reads as the member's name, ``@everyone`` as
"everyone". A premise that is nothing but mentions and punctuation is refused before any work.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_MENTION = re.compile(r"<@!?(\d+)>|<@&(\d+)>|<#(\d+)>|<a?:(\w+):\d+>|@(everyone|here)")

NameOf = Callable[[str, int], str | None]
"""``(kind, id) -> name``; kind is "user", "role" or "channel"; ``None`` if unknown."""


def has_words(text: str) -> bool:
    """Whether anything but mentions, emoji and punctuation is left."""
    return any(ch.isalnum() for ch in _MENTION.sub(" ", text))


def plain_premise(text: str, name_of: NameOf) -> str:
    """The premise with each mention replaced by the name it stands for."""

    def replace(match: re.Match[str]) -> str:
        user, role, channel, emoji, everyone = match.groups()
        if everyone:
            return everyone
        if emoji:
            return f":{emoji}:"
        kind, ident = ("user", user) if user else ("role", role) if role else ("channel", channel)
        return name_of(kind, int(ident)) or ("someone" if kind == "user" else kind)

    return " ".join(_MENTION.sub(replace, text).split())
