"""The fake's world: guilds, messages, commands, interactions and settings.

REST handlers, the gateway and the test-facing API all read and change this
one object, so a message the bot creates over REST is what the test inspects
and what a later button click carries back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._faults import FaultInjector
from ._interactions import FakeInteraction, FakeUpload
from ._messages import FakeAttachment, FakeMessage
from ._models import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    JSON,
    FakeChannel,
    FakeGuild,
    FakeRole,
    FakeUser,
    SnowflakeFactory,
)
from ._records import RecordedRequest, RequestLog, Signal, UploadedFile


@dataclass
class FakeConfig:
    """Knobs a test may turn (all have Discord's real values by default)."""

    bot_token: str = "fake-bot-token"
    #: Gateway HELLO heartbeat interval; tests use a few hundred ms.
    heartbeat_interval_ms: int = 41250
    #: Interaction tokens stop working after this many seconds (401, code 50027).
    token_lifetime: float = 15 * 60
    #: A callback later than this many seconds after dispatch gets 404 "Unknown interaction".
    callback_deadline: float = 3.0
    #: Sent in every interaction as ``attachment_size_limit``.
    attachment_size_limit: int = 10 * 1024 * 1024
    #: A repeated nonce within this many seconds returns the original message.
    nonce_window: float = 5 * 60
    #: Whether messages the bot creates, edits or deletes are echoed on the gateway.
    dispatch_message_events: bool = True
    #: Whether to honour ``compress=zlib-stream`` (binary frames) when asked.
    gateway_compression: bool = True
    #: ``GET /gateway/bot``: the shard count Discord recommends, and how many shards may
    #: IDENTIFY in one 5-second window (``session_start_limit.max_concurrency``).
    shards: int = 1
    max_concurrency: int = 1


class FakeState:
    """Everything the fake knows, plus the journal of what it was asked."""

    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self.new_id = SnowflakeFactory()
        self.signal = Signal()
        self.log = RequestLog(self.signal)
        self.faults = FaultInjector()
        self.invalid_request_count = 0
        self.http_base = ""
        self.application_id = self.new_id()
        # Modern applications share their id with their bot user.
        self.bot_user = FakeUser(self.application_id, "Showrunner", bot=True)
        self.owner = FakeUser(self.new_id(), "app-owner")
        self.guilds: list[FakeGuild] = []
        self.messages_by_id: dict[int, FakeMessage] = {}
        self.channel_messages: dict[int, list[FakeMessage]] = {}
        self.attachments: dict[int, FakeAttachment] = {}
        self.global_commands: list[JSON] = []
        self.guild_commands: dict[int, list[JSON]] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        self.interactions_by_token: dict[str, FakeInteraction] = {}
        self.nonces: dict[tuple[int, str], tuple[float, FakeMessage]] = {}
        #: Set by the gateway: sends (or queues for RESUME) one dispatch event.
        self.dispatch: Callable[[str, JSON], None] = lambda _event, _data: None
        self.is_ready: Callable[[], bool] = lambda: False

    # --- objects -----------------------------------------------------------

    def add_guild(self, name: str) -> FakeGuild:
        """A guild with @everyone, the bot (with its managed role) and one human owner."""
        guild_id = self.new_id()
        guild = FakeGuild(guild_id, name, self.owner, self)
        guild.roles.append(FakeRole(guild_id, "@everyone", DEFAULT_EVERYONE_PERMISSIONS))
        bot_role = FakeRole(self.new_id(), self.bot_user.username, DEFAULT_BOT_PERMISSIONS, 1)
        bot_role.managed, bot_role.bot_id = True, self.bot_user.id
        guild.roles.append(bot_role)
        guild.add_existing_user(self.owner)
        guild.add_existing_user(self.bot_user).role_ids.append(bot_role.id)
        self.guilds.append(guild)
        if self.is_ready():
            self.dispatch("GUILD_CREATE", guild.to_json())
        return guild

    def on_channel_added(self, channel: FakeChannel) -> None:
        """Announces a channel created after READY, as Discord would."""
        self.channel_messages.setdefault(channel.id, [])
        if self.is_ready():
            thread = channel.parent_id is not None
            self.dispatch("THREAD_CREATE" if thread else "CHANNEL_CREATE", channel.to_json())

    def channel(self, channel_id: int) -> FakeChannel | None:
        """Any guild's channel with this id."""
        for guild in self.guilds:
            found = guild.channel(channel_id)
            if found is not None:
                return found
        return None

    def guild(self, guild_id: int) -> FakeGuild | None:
        """The guild with this id."""
        return next((g for g in self.guilds if g.id == guild_id), None)

    # --- messages ----------------------------------------------------------

    def attachment_maker(self, channel_id: int) -> Callable[[UploadedFile], FakeAttachment]:
        """Stores uploads as attachments served back at ``{http_base}/attachments/...``."""

        def make(upload: UploadedFile) -> FakeAttachment:
            att_id = self.new_id()
            url = f"{self.http_base}/attachments/{channel_id}/{att_id}/{upload.filename}"
            att = FakeAttachment(att_id, upload.filename, upload.data, upload.content_type, url)
            self.attachments[att_id] = att
            return att

        return make

    def store_upload(self, channel: FakeChannel, upload: FakeUpload) -> FakeAttachment:
        """A file a user attached to a slash command: stored as an ephemeral attachment
        served at ``{http_base}/attachments/...`` like the bot's own uploads."""
        part = UploadedFile("files[0]", upload.filename, upload.mime_type, upload.data)
        att = self.attachment_maker(channel.id)(part)
        att.ephemeral = True
        return att

    def create_message(
        self,
        channel: FakeChannel,
        author: FakeUser,
        payload: JSON,
        files: list[UploadedFile],
        request: RecordedRequest | None,
        **extra: Any,
    ) -> FakeMessage:
        """Stores a new message and, unless it is ephemeral, echoes MESSAGE_CREATE."""
        msg = FakeMessage(self.new_id(), channel.id, channel.guild.id, author, **extra)
        if payload.get("nonce") is not None:
            msg.nonce = str(payload["nonce"])
        msg.apply(
            payload,
            files,
            make_attachment=self.attachment_maker(channel.id),
            request=request,
            is_edit=False,
        )
        self.messages_by_id[msg.id] = msg
        if msg.nonce is not None:
            self.nonces[(channel.id, msg.nonce)] = (time.monotonic(), msg)
        if not msg.ephemeral:
            self.channel_messages.setdefault(channel.id, []).append(msg)
            if self.config.dispatch_message_events:
                self.dispatch("MESSAGE_CREATE", msg.to_json())
        self.signal.pulse()
        return msg

    def edit_message(
        self,
        msg: FakeMessage,
        payload: JSON,
        files: list[UploadedFile],
        request: RecordedRequest | None,
    ) -> FakeMessage:
        """Applies an edit and echoes MESSAGE_UPDATE for visible messages."""
        msg.apply(
            payload,
            files,
            make_attachment=self.attachment_maker(msg.channel_id),
            request=request,
            is_edit=True,
        )
        if not msg.ephemeral and self.config.dispatch_message_events:
            self.dispatch("MESSAGE_UPDATE", msg.to_json())
        self.signal.pulse()
        return msg

    def delete_message(self, msg: FakeMessage) -> None:
        """Marks it deleted, drops it from its channel and echoes MESSAGE_DELETE."""
        msg.deleted = True
        history = self.channel_messages.get(msg.channel_id, [])
        if msg in history:
            history.remove(msg)
            if self.config.dispatch_message_events:
                data = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
                if msg.guild_id is not None:
                    data["guild_id"] = str(msg.guild_id)
                self.dispatch("MESSAGE_DELETE", data)
        self.signal.pulse()

    def live_message(self, message_id: int, channel_id: int | None = None) -> FakeMessage | None:
        """A message that exists and was not deleted (optionally in ``channel_id``)."""
        msg = self.messages_by_id.get(message_id)
        if msg is None or msg.deleted:
            return None
        if channel_id is not None and msg.channel_id != channel_id:
            return None
        return msg

    def find_by_nonce(self, channel_id: int, nonce: str) -> FakeMessage | None:
        """The message created with this nonce in this channel within the window."""
        hit = self.nonces.get((channel_id, nonce))
        if hit is None or time.monotonic() - hit[0] > self.config.nonce_window:
            return None
        return hit[1]

    # --- application commands ---------------------------------------------

    def overwrite_commands(self, guild_id: int | None, payload: list[JSON]) -> list[JSON]:
        """Bulk overwrite; a command keeps its id when a command of that name existed."""
        old = self.global_commands if guild_id is None else self.guild_commands.get(guild_id, [])
        ids = {(c["name"], c.get("type", 1)): c["id"] for c in old}
        stored: list[JSON] = []
        for item in payload:
            command = dict(item)
            command.setdefault("type", 1)
            command.setdefault("description", "")
            command.setdefault("options", [])
            key = (command["name"], command["type"])
            command["id"] = ids.get(key) or str(self.new_id())
            command["application_id"] = str(self.application_id)
            command["version"] = str(self.new_id())
            if guild_id is not None:
                command["guild_id"] = str(guild_id)
            stored.append(command)
        if guild_id is None:
            self.global_commands = stored
        else:
            self.guild_commands[guild_id] = stored
        self.signal.pulse()
        return stored

    def find_command(self, name: str, guild: FakeGuild) -> tuple[JSON | None, bool]:
        """The synced chat-input command ``name`` and whether it is guild-scoped."""
        for command in self.guild_commands.get(guild.id, []):
            if command["name"] == name and command.get("type", 1) == 1:
                return command, True
        for command in self.global_commands:
            if command["name"] == name and command.get("type", 1) == 1:
                return command, False
        return None, False
