"""A writer's premise as typed in Discord, made into plain words for the writers' room.

Mentions are Discord syntax, not story: ``<@123>`` reads as the member's name, ``@everyone`` as
"everyone". A premise that is nothing but mentions and punctuation is refused before any work.
"""

from __future__ import annotations

import re

import discord

_MENTION = re.compile(r"<@!?(\d+)>|<@&(\d+)>|<#(\d+)>|<a?:(\w+):\d+>|@(everyone|here)")
MAX_LOOKUPS = 5
"""Members fetched over REST for one premise, at most; further unknown ones read 'someone'."""


def has_words(text: str) -> bool:
    """Whether anything but mentions, emoji and punctuation is left."""
    return any(ch.isalnum() for ch in _MENTION.sub(" ", text))


async def plain_premise(text: str, guild: discord.Guild | None) -> str:
    """The premise with each mention replaced by the name it stands for."""
    names: dict[str, str] = {}
    lookups = 0
    for match in _MENTION.finditer(text):
        user, role, channel, emoji, everyone = match.groups()
        token = match.group(0)
        if token in names:
            continue
        if everyone:
            names[token] = everyone
        elif emoji:
            names[token] = f":{emoji}:"
        elif guild is None:
            names[token] = "someone"
        elif role:
            found_role = guild.get_role(int(role))
            names[token] = found_role.name.lstrip("@") if found_role else "a role"
        elif channel:
            found_channel = guild.get_channel(int(channel))
            names[token] = f"#{found_channel.name}" if found_channel else "a channel"
        else:
            member = guild.get_member(int(user))
            if member is None and lookups < MAX_LOOKUPS:
                lookups += 1
                try:
                    member = await guild.fetch_member(int(user))
                except discord.HTTPException:
                    member = None
            names[token] = member.display_name if member else "someone"
    return " ".join(_MENTION.sub(lambda m: names[m.group(0)], text).split())
