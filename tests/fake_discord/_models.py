"""Plain data objects of the fake: users, roles, guilds, channels.

They render themselves as the JSON shapes Discord sends, with every key that
discord.py reads with ``data[...]`` (a missing one would raise a KeyError deep in
its parsers, far from the test that caused it).
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1420070400000

PUBLIC_THREAD = 11
"""The channel type of a public thread."""

# Permission bits as Discord defines them (discord.Permissions uses the same values).
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 53) - 1

#: What @everyone gets in a fresh guild: enough to talk and use slash commands.
DEFAULT_EVERYONE_PERMISSIONS = (
    ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | USE_APPLICATION_COMMANDS
    | SEND_MESSAGES_IN_THREADS
)
#: What the bot's managed role grants on top of @everyone (a typical invite scope).
DEFAULT_BOT_PERMISSIONS = DEFAULT_EVERYONE_PERMISSIONS | MANAGE_MESSAGES


class SnowflakeFactory:
    """Makes unique, increasing snowflakes whose timestamp part is "now".

    discord.py derives ``created_at`` from ids, so they should look real; the
    counter keeps them unique and ordered even within one millisecond.
    """

    def __init__(self) -> None:
        self._counter = itertools.count()
        self._last = 0

    def __call__(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        candidate = (ms << 22) | (next(self._counter) & 0xFFF)
        self._last = max(candidate, self._last + 1)
        return self._last


def iso_now() -> str:
    """Current UTC time as the ISO 8601 string Discord uses in payloads."""
    return dt.datetime.now(dt.UTC).isoformat()


class _Hooks(Protocol):
    """What guilds need from the fake: ids and a way to announce new objects."""

    def new_id(self) -> int: ...

    def on_channel_added(self, channel: FakeChannel) -> None: ...


@dataclass(eq=False)
class FakeUser:
    """A Discord user (the bot itself, or a human a test makes act)."""

    id: int
    username: str
    bot: bool = False
    global_name: str | None = None

    @property
    def mention(self) -> str:
        """The ``<@id>`` form, handy for assertions on message content."""
        return f"<@{self.id}>"

    def to_json(self) -> JSON:
        """The user object as in message authors, members and READY."""
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
        }


@dataclass(eq=False)
class FakeRole:
    """A guild role; its ``permissions`` is a bitfield, sent as a string."""

    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    bot_id: int | None = None

    def to_json(self) -> JSON:
        """The role object of GUILD_CREATE."""
        data: JSON = {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": self.managed,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass(eq=False)
class FakeMember:
    """A user's membership of one guild."""

    user: FakeUser
    role_ids: list[int]
    joined_at: str = field(default_factory=iso_now)
    nick: str | None = None

    def to_json(self, *, with_user: bool = True, permissions: int | None = None) -> JSON:
        """The member object; ``permissions`` is only present in interactions."""
        data: JSON = {
            "roles": [str(r) for r in self.role_ids],
            "joined_at": self.joined_at,
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.to_json()
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass(eq=False)
class FakeChannel:
    """A guild text channel, or a public thread of one (``type`` 11, with ``parent_id``)."""

    id: int
    guild: FakeGuild
    name: str
    position: int
    topic: str | None = None
    type: int = 0
    parent_id: int | None = None

    @property
    def guild_id(self) -> int:
        """Id of the guild this channel belongs to."""
        return self.guild.id

    def to_json(self) -> JSON:
        """The channel object of GUILD_CREATE, CHANNEL_CREATE and GET /channels/{id}."""
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild.id),
            "name": self.name,
            "position": self.position,
            "topic": self.topic,
            "nsfw": False,
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "permission_overwrites": [],
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
            **(self._thread_fields() if self.type == PUBLIC_THREAD else {}),
        }

    def _thread_fields(self) -> JSON:
        """What a thread object carries besides a channel's (discord.py requires them)."""
        return {
            "owner_id": str(self.guild.owner.id),
            "message_count": 0,
            "member_count": 1,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": iso_now(),
                "locked": False,
            },
        }


@dataclass(eq=False)
class FakeGuild:
    """A guild (server) with its roles, channels and members.

    Create it with ``FakeDiscord.add_guild``; the bot is added as a member with
    its own managed role, like a real invite does.
    """

    id: int
    name: str
    owner: FakeUser
    _hooks: _Hooks = field(repr=False)
    roles: list[FakeRole] = field(default_factory=list)
    channels: list[FakeChannel] = field(default_factory=list)
    threads: list[FakeChannel] = field(default_factory=list)
    members: dict[int, FakeMember] = field(default_factory=dict)

    @property
    def everyone_role(self) -> FakeRole:
        """The @everyone role, whose id is the guild id (as on Discord)."""
        return self.roles[0]

    def add_role(self, name: str, permissions: int, *, managed: bool = False) -> FakeRole:
        """Adds a role; its position is above every existing role."""
        role = FakeRole(
            self._hooks.new_id(), name, permissions, position=len(self.roles), managed=managed
        )
        self.roles.append(role)
        return role

    def add_text_channel(self, name: str, *, topic: str | None = None) -> FakeChannel:
        """Adds a text channel (announced with CHANNEL_CREATE if the bot is connected)."""
        channel = FakeChannel(self._hooks.new_id(), self, name, len(self.channels), topic)
        self.channels.append(channel)
        self._hooks.on_channel_added(channel)
        return channel

    def add_thread(self, parent: FakeChannel, name: str) -> FakeChannel:
        """Adds a public thread of ``parent`` (announced with THREAD_CREATE once connected)."""
        thread = FakeChannel(
            self._hooks.new_id(), self, name, 0, type=PUBLIC_THREAD, parent_id=parent.id
        )
        self.threads.append(thread)
        self._hooks.on_channel_added(thread)
        return thread

    def add_member(
        self, name: str, *, permissions: int | None = None, bot: bool = False
    ) -> FakeUser:
        """Adds a new user as a member.

        ``permissions`` (a bitfield, e.g. ``MANAGE_MESSAGES``) is granted through
        a role of the member's own, so discord.py's permission maths agrees with
        the ``member.permissions`` the fake puts in interactions.
        """
        user = FakeUser(self._hooks.new_id(), name, bot=bot)
        self.add_existing_user(user, permissions=permissions)
        return user

    def add_existing_user(self, user: FakeUser, *, permissions: int | None = None) -> FakeMember:
        """Makes an existing user (e.g. one in another guild) a member here too."""
        role_ids: list[int] = []
        if permissions is not None:
            role_ids.append(self.add_role(f"{user.username}-role", permissions).id)
        member = FakeMember(user, role_ids)
        self.members[user.id] = member
        return member

    def member(self, user: FakeUser) -> FakeMember:
        """The membership of ``user``; KeyError if they are not in this guild."""
        return self.members[user.id]

    def permissions_for(self, user: FakeUser) -> int:
        """Guild-level permissions of ``user`` (no channel overwrites exist here)."""
        if user.id == self.owner.id:
            return ALL_PERMISSIONS
        perms = self.everyone_role.permissions
        member = self.members.get(user.id)
        if member is not None:
            for role in self.roles:
                if role.id in member.role_ids:
                    perms |= role.permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def channel(self, channel_id: int) -> FakeChannel | None:
        """The channel (or thread) with this id, if it belongs to this guild."""
        return next((c for c in [*self.channels, *self.threads] if c.id == channel_id), None)

    def to_json(self) -> JSON:
        """The full GUILD_CREATE payload for this guild."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner.id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "application_id": None,
            "vanity_url_code": None,
            "features": [],
            "roles": [r.to_json() for r in self.roles],
            "emojis": [],
            "stickers": [],
            "channels": [c.to_json() for c in self.channels],
            "threads": [t.to_json() for t in self.threads],
            "members": [m.to_json() for m in self.members.values()],
            "member_count": len(self.members),
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "large": False,
            "unavailable": False,
            "lazy": True,
            "joined_at": iso_now(),
            "max_members": 500000,
            "max_video_channel_users": 25,
        }
