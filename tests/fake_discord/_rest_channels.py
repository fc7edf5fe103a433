"""Channel routes: send, edit, delete, fetch and list messages; typing.

Also the payload checks Discord applies to every message create/edit (2000
characters, 10 embeds, file size), shared with the webhook routes, so a bot
that overflows a limit gets the same 400/413 it would get in production.
"""

from __future__ import annotations

from typing import Any

from ._messages import FakeMessage
from ._models import JSON, MANAGE_MESSAGES, SEND_MESSAGES, FakeChannel
from ._records import UploadedFile
from ._replies import Reply, error, no_content, ok, unknown
from ._rest import Ctx, Router
from ._state import FakeState

MAX_CONTENT = 2000
MAX_EMBEDS = 10


def validate_message(
    payload: JSON, files: list[UploadedFile], size_limit: int, *, is_edit: bool
) -> Reply | None:
    """A Discord-style refusal for an invalid create/edit payload, or None."""
    content = payload.get("content")
    errors: dict[str, Any] = {}
    if isinstance(content, str) and len(content) > MAX_CONTENT:
        errors["content"] = _form_error("BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    embeds = payload.get("embeds")
    if isinstance(embeds, list) and len(embeds) > MAX_EMBEDS:
        errors["embeds"] = _form_error("BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    if errors:
        return Reply(400, {"message": "Invalid Form Body", "code": 50035, "errors": errors})
    if sum(len(f.data) for f in files) > size_limit:
        return error(413, "Request entity too large", 40005)
    body_keys = ("content", "embeds", "components", "sticker_ids", "poll")
    has_body = any(payload.get(k) for k in body_keys)
    if not is_edit and not has_body and not files:
        return error(400, "Cannot send an empty message", 50006)
    return None


def _form_error(code: str, message: str) -> JSON:
    return {"_errors": [{"code": code, "message": message}]}


def _channel(ctx: Ctx) -> FakeChannel | Reply:
    channel_id = ctx.int_param("channel_id")
    channel = ctx.state.channel(channel_id) if channel_id is not None else None
    return channel if channel is not None else unknown("Channel", 10003)


def _message(ctx: Ctx) -> FakeMessage | Reply:
    message_id = ctx.int_param("message_id")
    msg = (
        ctx.state.live_message(message_id, ctx.int_param("channel_id"))
        if message_id is not None
        else None
    )
    return msg if msg is not None else unknown("Message", 10008)


def _history(state: FakeState, channel: FakeChannel, query: dict[str, str]) -> list[JSON]:
    """``GET /channels/{id}/messages``: newest first, honouring limit/before/after/around."""
    limit = max(1, min(100, int(query.get("limit", "50"))))
    items = list(state.channel_messages.get(channel.id, []))
    if "before" in query:
        items = [m for m in items if m.id < int(query["before"])]
    if "after" in query:
        items = [m for m in items if m.id > int(query["after"])][:limit]
    if "around" in query:
        pivot = int(query["around"])
        older = [m for m in items if m.id <= pivot][-(limit // 2 + 1) :]
        newer = [m for m in items if m.id > pivot][: limit - len(older)]
        items = older + newer
    return [m.to_json() for m in reversed(items[-limit:])]


def add_channel_routes(router: Router) -> None:
    """Registers the ``/channels/...`` routes."""

    @router.add("GET", "/channels/{channel_id}")
    async def get_channel(ctx: Ctx) -> Reply:
        channel = _channel(ctx)
        return channel if isinstance(channel, Reply) else ok(channel.to_json())

    @router.add("POST", "/channels/{channel_id}/typing")
    async def typing(ctx: Ctx) -> Reply:
        channel = _channel(ctx)
        return channel if isinstance(channel, Reply) else no_content()

    @router.add("GET", "/channels/{channel_id}/messages")
    async def list_messages(ctx: Ctx) -> Reply:
        channel = _channel(ctx)
        if isinstance(channel, Reply):
            return channel
        return ok(_history(ctx.state, channel, ctx.req.query))

    @router.add("POST", "/channels/{channel_id}/messages")
    async def create_message(ctx: Ctx) -> Reply:
        channel = _channel(ctx)
        if isinstance(channel, Reply):
            return channel
        state, req = ctx.state, ctx.req
        if not channel.guild.permissions_for(state.bot_user) & SEND_MESSAGES:
            return error(403, "Missing Permissions", 50013)
        payload: JSON = req.payload or {}
        nonce = payload.get("nonce")
        if nonce is not None and payload.get("enforce_nonce"):
            earlier = state.find_by_nonce(channel.id, str(nonce))
            if earlier is not None:
                req.message_id = earlier.id
                return ok(earlier.to_json())
        refusal = validate_message(
            payload, req.files, state.config.attachment_size_limit, is_edit=False
        )
        if refusal is not None:
            return refusal
        msg = state.create_message(channel, state.bot_user, payload, req.files, req)
        req.message_id = msg.id
        return ok(msg.to_json())

    @router.add("GET", "/channels/{channel_id}/messages/{message_id}")
    async def get_message(ctx: Ctx) -> Reply:
        msg = _message(ctx)
        return msg if isinstance(msg, Reply) else ok(msg.to_json())

    @router.add("PATCH", "/channels/{channel_id}/messages/{message_id}")
    async def edit_message(ctx: Ctx) -> Reply:
        msg = _message(ctx)
        if isinstance(msg, Reply):
            return msg
        state, req = ctx.state, ctx.req
        if msg.author.id != state.bot_user.id:
            return error(403, "Cannot edit a message authored by another user", 50005)
        payload: JSON = req.payload or {}
        refusal = validate_message(
            payload, req.files, state.config.attachment_size_limit, is_edit=True
        )
        if refusal is not None:
            return refusal
        return ok(state.edit_message(msg, payload, req.files, req).to_json())

    @router.add("DELETE", "/channels/{channel_id}/messages/{message_id}")
    async def delete_message(ctx: Ctx) -> Reply:
        msg = _message(ctx)
        if isinstance(msg, Reply):
            return msg
        channel = ctx.state.channel(msg.channel_id)
        own = msg.author.id == ctx.state.bot_user.id
        may_manage = channel is None or bool(
            channel.guild.permissions_for(ctx.state.bot_user) & MANAGE_MESSAGES
        )
        if not own and not may_manage:
            return error(403, "Missing Permissions", 50013)
        ctx.state.delete_message(msg)
        return no_content()
