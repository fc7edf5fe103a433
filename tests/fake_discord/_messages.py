"""Stored messages with their attachments and full edit history.

A message is created and edited by applying the JSON payload the bot sent
(plus uploaded files), the way Discord merges an edit: keys absent from a
PATCH keep their old value; ``attachments`` lists the files to keep.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._models import JSON, FakeUser, iso_now
from ._records import RecordedRequest, UploadedFile

FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7

AttachmentMaker = Callable[[UploadedFile], "FakeAttachment"]


@dataclass(eq=False)
class FakeAttachment:
    """An uploaded file; ``data`` holds the exact bytes the bot sent."""

    id: int
    filename: str
    data: bytes
    content_type: str
    url: str
    description: str | None = None
    #: True for a file a user attached to a slash command option (type 11).
    ephemeral: bool = False

    @property
    def size(self) -> int:
        """Size in bytes, as Discord reports it."""
        return len(self.data)

    def to_json(self) -> JSON:
        """The attachment object inside a message (or an interaction's ``resolved``)."""
        data: JSON = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
            "description": self.description,
            "flags": 0,
        }
        if self.ephemeral:
            data["ephemeral"] = True
        return data


@dataclass
class MessageRevision:
    """The message as it was after one create or edit."""

    at: float
    timestamp: str
    content: str
    embeds: list[JSON]
    components: list[JSON]
    attachment_names: list[str]
    allowed_mentions: Any
    flags: int
    request: RecordedRequest | None


@dataclass(eq=False)
class FakeMessage:
    """A message in the fake's store, with everything needed to rebuild it."""

    id: int
    channel_id: int
    guild_id: int | None
    author: FakeUser
    content: str = ""
    embeds: list[JSON] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    attachments: list[FakeAttachment] = field(default_factory=list)
    allowed_mentions: Any = None
    flags: int = 0
    tts: bool = False
    nonce: str | None = None
    type: int = 0
    timestamp: str = field(default_factory=iso_now)
    edited_timestamp: str | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_id: int | None = None
    interaction_user: FakeUser | None = None
    interaction_type: int | None = None
    deleted: bool = False
    revisions: list[MessageRevision] = field(default_factory=list)

    @property
    def ephemeral(self) -> bool:
        """Whether only the invoking user can see it."""
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        """True while it is a deferral's "is thinking..." placeholder."""
        return bool(self.flags & FLAG_LOADING)

    @property
    def edit_count(self) -> int:
        """How many times it was edited after creation."""
        return max(0, len(self.revisions) - 1)

    def attachment(self, filename: str) -> FakeAttachment:
        """The current attachment named ``filename`` (KeyError if none)."""
        for att in self.attachments:
            if att.filename == filename:
                return att
        raise KeyError(filename)

    def flat_components(self) -> list[JSON]:
        """Every component (rows, buttons, selects, accessories...), depth first."""
        return flatten_components(self.components)

    def custom_ids(self) -> list[str]:
        """Every ``custom_id`` in the message's components, depth first."""
        return [str(c["custom_id"]) for c in self.flat_components() if "custom_id" in c]

    def component(self, custom_id: str) -> JSON | None:
        """The component with this ``custom_id`` as the bot last sent it."""
        return next((c for c in self.flat_components() if c.get("custom_id") == custom_id), None)

    def apply(
        self,
        payload: JSON,
        files: list[UploadedFile],
        *,
        make_attachment: AttachmentMaker,
        request: RecordedRequest | None,
        is_edit: bool,
    ) -> None:
        """Merges a create/edit payload; ``make_attachment(UploadedFile)`` stores a file."""
        if "content" in payload:
            self.content = payload["content"] or ""
        if "embeds" in payload:
            self.embeds = copy.deepcopy(payload["embeds"] or [])
        elif "embed" in payload:
            self.embeds = [copy.deepcopy(payload["embed"])] if payload["embed"] else []
        if "components" in payload:
            self.components = copy.deepcopy(payload["components"] or [])
        if "allowed_mentions" in payload:
            self.allowed_mentions = copy.deepcopy(payload["allowed_mentions"])
        if "tts" in payload:
            self.tts = bool(payload["tts"])
        if payload.get("flags") is not None:
            keep = self.flags & FLAG_EPHEMERAL
            self.flags = int(payload["flags"]) | keep
        if is_edit:
            self.flags &= ~FLAG_LOADING
        self._apply_attachments(payload, files, make_attachment)
        now = iso_now()
        if is_edit:
            self.edited_timestamp = now
        self.revisions.append(
            MessageRevision(
                at=time.monotonic(),
                timestamp=now,
                content=self.content,
                embeds=copy.deepcopy(self.embeds),
                components=copy.deepcopy(self.components),
                attachment_names=[a.filename for a in self.attachments],
                allowed_mentions=copy.deepcopy(payload.get("allowed_mentions")),
                flags=self.flags,
                request=request,
            )
        )

    def _apply_attachments(
        self, payload: JSON, files: list[UploadedFile], make_attachment: AttachmentMaker
    ) -> None:
        by_index = {f.index: f for f in files if f.index is not None}
        if "attachments" not in payload:
            self.attachments = self.attachments + [make_attachment(f) for f in files]
            return
        kept: list[FakeAttachment] = []
        existing = {a.id: a for a in self.attachments}
        for entry in payload["attachments"] or []:
            ref = int(entry["id"])
            if ref in existing:
                kept.append(existing[ref])
            elif ref in by_index:
                att = make_attachment(by_index[ref])
                att.description = entry.get("description")
                if entry.get("filename"):
                    att.filename = entry["filename"]
                kept.append(att)
        self.attachments = kept

    def to_json(self) -> JSON:
        """The message object discord.py turns into ``discord.Message``."""
        data: JSON = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author": self.author.to_json(),
            "content": self.content,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "tts": self.tts,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "mention_channels": [],
            "attachments": [a.to_json() for a in self.attachments],
            "embeds": copy.deepcopy(self.embeds),
            "components": copy.deepcopy(self.components),
            "reactions": [],
            "pinned": False,
            "type": self.type,
            "flags": self.flags,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.nonce is not None:
            data["nonce"] = self.nonce
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
        if self.application_id is not None:
            data["application_id"] = str(self.application_id)
        if self.interaction_id is not None and self.interaction_user is not None:
            data["interaction_metadata"] = {
                "id": str(self.interaction_id),
                "type": self.interaction_type or 2,
                "user": self.interaction_user.to_json(),
                "authorizing_integration_owners": {"0": str(self.guild_id or 0)},
            }
        return data


def flatten_components(items: list[Any]) -> list[JSON]:
    """Depth-first list of components, following ``components``, ``component`` and
    ``accessory`` (rows, labels and sections nest children under those keys)."""
    found: list[JSON] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        found.append(item)
        found.extend(flatten_components(list(item.get("components", []))))
        for key in ("component", "accessory"):
            if isinstance(item.get(key), dict):
                found.extend(flatten_components([item[key]]))
    return found
