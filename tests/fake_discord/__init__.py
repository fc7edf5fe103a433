"""A wire-level fake Discord (REST API v10 + gateway) for testing with the real discord.py.

Usage::

    async with FakeDiscord(heartbeat_interval_ms=500) as fake, fake.patch_discord_py():
        guild = fake.add_guild("Writers' Room")
        channel = guild.add_text_channel("episodes")
        alice = guild.add_member("alice")
        ...  # start the bot with fake.config.bot_token
        await fake.wait_until_ready()
        inter = await fake.invoke_slash_command(guild, channel, alice, "episode", {"premise": "x"})
        callback = await inter.wait_for_callback()

A file option: ``{"file": FakeUpload("bible.yaml", b"...", content_type="text/yaml")}``;
autocomplete: ``await fake.autocomplete(guild, channel, alice, "character edit",
{"name": "Ad"}, focused="name")`` then ``inter.choices`` (callback type 8).
"""

from ._faults import RequestMatcher
from ._gateway import Handshake
from ._interactions import FakeCallback, FakeInteraction, FakeUpload
from ._messages import FakeAttachment, FakeMessage, MessageRevision
from ._models import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    ATTACH_FILES,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    EMBED_LINKS,
    MANAGE_GUILD,
    MANAGE_MESSAGES,
    SEND_MESSAGES,
    USE_APPLICATION_COMMANDS,
    VIEW_CHANNEL,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
)
from ._records import RecordedRequest, RequestLog, UploadedFile
from ._rest_interactions import CALLBACK_ROUTE
from ._server import MESSAGE_WRITE_ROUTES, FakeDiscord, pings_nobody, written_message
from ._state import FakeConfig

__all__ = [
    "ADMINISTRATOR",
    "ALL_PERMISSIONS",
    "ATTACH_FILES",
    "CALLBACK_ROUTE",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "EMBED_LINKS",
    "MANAGE_GUILD",
    "MANAGE_MESSAGES",
    "MESSAGE_WRITE_ROUTES",
    "SEND_MESSAGES",
    "USE_APPLICATION_COMMANDS",
    "VIEW_CHANNEL",
    "FakeAttachment",
    "FakeCallback",
    "FakeChannel",
    "FakeConfig",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeMessage",
    "FakeRole",
    "FakeUpload",
    "FakeUser",
    "Handshake",
    "MessageRevision",
    "RecordedRequest",
    "RequestLog",
    "RequestMatcher",
    "UploadedFile",
    "pings_nobody",
    "written_message",
]
