"""Interactions: the INTERACTION_CREATE payloads the fake sends, and what the bot did with them.

A :class:`FakeInteraction` is the test's handle on one slash command,
autocomplete request, button click or modal submit: the callback(s) the bot
sent (with their delay since dispatch, the first thing to check for the
3-second rule), the original response message as it evolves, and the
follow-ups.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._messages import FakeAttachment, FakeMessage
from ._models import JSON, FakeChannel, FakeGuild, FakeRole, FakeUser
from ._records import RecordedRequest, RequestLog, Signal

APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

# Interaction callback types.
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MODAL = 9

#: Option type of a file the user attaches to a slash command.
ATTACHMENT_OPTION = 11


@dataclass(frozen=True)
class FakeUpload:
    """A file a user picks for an ATTACHMENT (type 11) slash command option.

    ``content_type`` defaults to a guess from the file name, as the client makes.
    """

    filename: str
    data: bytes
    content_type: str | None = None

    @property
    def mime_type(self) -> str:
        """``content_type``, or the guess from ``filename`` (``application/octet-stream``)."""
        if self.content_type is not None:
            return self.content_type
        return mimetypes.guess_type(self.filename)[0] or "application/octet-stream"


@dataclass
class FakeCallback:
    """One ``POST /interactions/{id}/{token}/callback`` the bot made."""

    type: int
    data: Any
    at: float
    delay: float
    request: RecordedRequest

    @property
    def payload(self) -> Any:
        """The full callback body (``{"type": ..., "data": ...}``)."""
        return self.request.payload


@dataclass(eq=False)
class FakeInteraction:
    """One interaction the fake dispatched, and everything the bot answered to it."""

    id: int
    token: str
    type: int
    payload: JSON
    guild: FakeGuild
    channel: FakeChannel
    user: FakeUser
    created_at: float
    _signal: Signal = field(repr=False)
    _log: RequestLog = field(repr=False)
    source_message: FakeMessage | None = None
    delivered_at: float | None = None
    callbacks: list[FakeCallback] = field(default_factory=list)
    original: FakeMessage | None = None
    followups: list[FakeMessage] = field(default_factory=list)

    @property
    def callback(self) -> FakeCallback | None:
        """The first (normally only) callback, if any arrived."""
        return self.callbacks[0] if self.callbacks else None

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request made with this interaction's id or token, in arrival order."""
        return self._log.filter(interaction=self.id)

    @property
    def choices(self) -> list[JSON] | None:
        """``data.choices`` of the autocomplete answer (callback type 8), if one arrived."""
        for cb in self.callbacks:
            if cb.type == AUTOCOMPLETE_RESULT and isinstance(cb.data, dict):
                return list(cb.data.get("choices") or [])
        return None

    @property
    def modal_custom_id(self) -> str | None:
        """``custom_id`` of the modal the bot opened (callback type 9), if any."""
        for cb in self.callbacks:
            if cb.type == MODAL and isinstance(cb.data, dict):
                return str(cb.data["custom_id"])
        return None

    def age(self) -> float:
        """Seconds since the interaction was created (what token expiry counts)."""
        return time.monotonic() - self.created_at

    async def wait_for_callback(self, timeout: float = 5.0) -> FakeCallback:  # noqa: ASYNC109
        """The first callback, waiting up to ``timeout`` seconds for it."""
        return await self._signal.wait_until(
            lambda: self.callback, timeout, f"a callback to interaction {self.id}"
        )

    async def wait_for_original(
        self,
        predicate: Callable[[FakeMessage], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> FakeMessage:
        """The original response once it exists and ``predicate(message)`` holds."""

        def probe() -> FakeMessage | None:
            msg = self.original
            if msg is not None and (predicate is None or predicate(msg)):
                return msg
            return None

        return await self._signal.wait_until(probe, timeout, f"original response of {self.id}")

    async def wait_for_original_edit(
        self,
        predicate: Callable[[FakeMessage], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> FakeMessage:
        """The original response once it was edited (PATCHed, or replaced by an
        UPDATE_MESSAGE callback) and ``predicate(message)`` holds."""

        def edited(msg: FakeMessage) -> bool:
            return msg.edit_count >= 1 and (predicate is None or predicate(msg))

        return await self.wait_for_original(edited, timeout)

    async def wait_for_followup(
        self,
        predicate: Callable[[FakeMessage], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> FakeMessage:
        """The first follow-up message for which ``predicate`` holds."""

        def probe() -> FakeMessage | None:
            return next((m for m in self.followups if predicate is None or predicate(m)), None)

        return await self._signal.wait_until(probe, timeout, f"a follow-up to {self.id}")


_INFERRED_TYPES: list[tuple[type, int]] = [
    (bool, 5),
    (int, 4),
    (float, 10),
    (str, 3),
    (FakeUser, 6),
    (FakeChannel, 7),
    (FakeRole, 8),
    (FakeUpload, ATTACHMENT_OPTION),
]

#: Stores a user's upload in the fake and returns it as an attachment.
UploadStore = Callable[[FakeUpload], FakeAttachment]


def _find(options: list[JSON], name: str) -> JSON | None:
    return next((o for o in options if o.get("name") == name), None)


def build_command_data(
    command: JSON | None,
    name: str,
    options: Mapping[str, Any],
    guild: FakeGuild,
    *,
    store_upload: UploadStore | None = None,
    focused: str | None = None,
) -> JSON:
    """``data`` of a chat-input (or autocomplete) interaction.

    ``name`` may hold subcommands (``"episode new"``). When the command was
    synced, option types come from its registration; otherwise from the
    Python value (``str`` 3, ``int`` 4, ``bool`` 5, ``float`` 10, user 6,
    :class:`FakeUpload` 11...). A :class:`FakeUpload` is stored with
    ``store_upload`` and sent as its attachment id, the attachment itself in
    ``resolved.attachments``. The option named ``focused`` (autocomplete)
    carries ``"focused": true``.
    """
    words = name.split()
    registered = _options_at(command, words[1:])
    resolved: dict[str, dict[str, JSON]] = {}
    leaf: list[JSON] = []
    for word in options:
        spec = _find(registered, word)
        value = options[word]
        opt_type = int(spec["type"]) if spec else _infer_type(value)
        wire = _wire_value(value, guild, resolved, store_upload)
        option: JSON = {"name": word, "type": opt_type, "value": wire}
        if word == focused:
            option["focused"] = True
        leaf.append(option)
    nested = leaf
    for depth in range(len(words) - 1, 0, -1):
        sub_name = words[depth]
        spec = _find(_options_at(command, words[1:depth]), sub_name)
        sub_type = int(spec["type"]) if spec else (1 if depth == len(words) - 1 else 2)
        nested = [{"name": sub_name, "type": sub_type, "options": nested}]
    data: JSON = {
        "id": str(command["id"]) if command else "0",
        "name": words[0],
        "type": 1,
        "options": nested,
    }
    if resolved:
        data["resolved"] = resolved
    return data


def _options_at(command: JSON | None, path: list[str]) -> list[JSON]:
    options: list[JSON] = list(command.get("options", [])) if command else []
    for word in path:
        spec = _find(options, word)
        options = list(spec.get("options", [])) if spec else []
    return options


def _infer_type(value: Any) -> int:
    for kind, code in _INFERRED_TYPES:
        if isinstance(value, kind):
            return code
    raise TypeError(f"cannot infer an option type for {value!r}")


def _wire_value(
    value: Any,
    guild: FakeGuild,
    resolved: dict[str, dict[str, JSON]],
    store_upload: UploadStore | None,
) -> Any:
    """Snowflake-typed values go as ids with their objects in ``resolved``."""
    if isinstance(value, FakeUpload):
        if store_upload is None:
            raise ValueError("an attachment option needs somewhere to store the upload")
        att = store_upload(value)
        resolved.setdefault("attachments", {})[str(att.id)] = att.to_json()
        return str(att.id)
    if isinstance(value, FakeUser):
        resolved.setdefault("users", {})[str(value.id)] = value.to_json()
        member = guild.members.get(value.id)
        if member is not None:
            perms = guild.permissions_for(value)
            resolved.setdefault("members", {})[str(value.id)] = member.to_json(
                with_user=False, permissions=perms
            )
        return str(value.id)
    if isinstance(value, FakeChannel):
        data = value.to_json()
        data["permissions"] = str(guild.permissions_for(value.guild.owner))
        resolved.setdefault("channels", {})[str(value.id)] = data
        return str(value.id)
    if isinstance(value, FakeRole):
        resolved.setdefault("roles", {})[str(value.id)] = value.to_json()
        return str(value.id)
    return value


def base_payload(
    *,
    interaction_id: int,
    kind: int,
    token: str,
    application_id: int,
    guild: FakeGuild,
    channel: FakeChannel,
    user: FakeUser,
    bot: FakeUser,
    attachment_size_limit: int,
) -> JSON:
    """The fields every guild interaction carries, as Discord sends them."""
    return {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": kind,
        "token": token,
        "version": 1,
        "guild_id": str(guild.id),
        "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
        "channel_id": str(channel.id),
        "channel": channel.to_json(),
        "member": guild.member(user).to_json(permissions=guild.permissions_for(user)),
        "app_permissions": str(guild.permissions_for(bot)),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "entitlement_sku_ids": [],
        "authorizing_integration_owners": {"0": str(guild.id)},
        "context": 0,
        "attachment_size_limit": attachment_size_limit,
    }
