"""Interaction routes: the callback and the interaction-token webhooks.

These need no bot token (discord.py sends none), only a live interaction
token: after ``token_lifetime`` they answer 401 ``Invalid Webhook Token``
(code 50027), as Discord does 15 minutes after the interaction.

discord.py 2.7 always posts the callback with ``?with_response=1`` and reads
``interaction`` (and ``resource.message``) from the answer, so the answer is an
``InteractionCallbackResponse``; without the parameter Discord sends 204.

Which callback types an interaction accepts is Discord's table: an autocomplete
interaction only ``8`` (choices), a modal submit no modal, a modal only for a
command or a component, ``6``/``7`` only where there is a message to update.
"""

from __future__ import annotations

import time

from ._forms import validate_choices, validate_modal
from ._interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    MESSAGE_COMPONENT,
    MODAL,
    UPDATE_MESSAGE,
    FakeCallback,
    FakeInteraction,
)
from ._messages import FLAG_EPHEMERAL, FLAG_LOADING, FakeMessage
from ._models import JSON
from ._replies import (
    ALREADY_ACKNOWLEDGED,
    INVALID_WEBHOOK_TOKEN,
    UNKNOWN_INTERACTION,
    Reply,
    error,
    no_content,
    ok,
    unknown,
)
from ._rest import Ctx, Router
from ._rest_channels import validate_message

CALLBACK_ROUTE = "POST /interactions/{webhook_id}/{webhook_token}/callback"
MESSAGE_TYPE_CHAT_INPUT = 20


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true")


def _interaction(ctx: Ctx) -> FakeInteraction | Reply:
    """The live interaction behind a webhook route's ``{webhook_token}``."""
    if ctx.int_param("webhook_id") != ctx.state.application_id:
        return unknown("Webhook", 10015)
    found = ctx.state.interactions_by_token.get(ctx.param("webhook_token"))
    if found is None or found.age() > ctx.state.config.token_lifetime:
        return error(*INVALID_WEBHOOK_TOKEN)
    return found


def _target(ctx: Ctx, inter: FakeInteraction) -> FakeMessage | Reply:
    """``@original`` or a follow-up id, restricted to this interaction's messages."""
    if ctx.req.path.endswith("/@original"):
        msg = inter.original
    else:
        wanted = ctx.int_param("message_id")
        candidates = [*inter.followups, *([inter.original] if inter.original else [])]
        msg = next((m for m in candidates if m.id == wanted), None)
    if msg is None or msg.deleted:
        return unknown("Message", 10008)
    ctx.req.message_id = msg.id
    return msg


def _new_response(ctx: Ctx, inter: FakeInteraction, data: JSON, flags: int = 0) -> FakeMessage:
    """Creates a message owned by the interaction (reply, placeholder or follow-up)."""
    state = ctx.state
    msg_type = MESSAGE_TYPE_CHAT_INPUT if inter.type == APPLICATION_COMMAND else 0
    return state.create_message(
        inter.channel,
        state.bot_user,
        data,
        ctx.req.files,
        ctx.req,
        flags=flags,
        type=msg_type,
        webhook_id=state.application_id,
        application_id=state.application_id,
        interaction_id=inter.id,
        interaction_user=inter.user,
        interaction_type=inter.type,
    )


def _callback_body(inter: FakeInteraction, kind: int, msg: FakeMessage | None) -> JSON:
    meta: JSON = {
        "id": str(inter.id),
        "type": inter.type,
        "response_message_loading": kind == DEFERRED_CHANNEL_MESSAGE,
        "response_message_ephemeral": bool(msg and msg.ephemeral),
    }
    resource: JSON = {"type": kind}
    if msg is not None:
        meta["response_message_id"] = str(msg.id)
        resource["message"] = msg.to_json()
    return {"interaction": meta, "resource": resource}


def add_interaction_routes(router: Router) -> None:
    """Registers the callback and ``/webhooks/{application_id}/{token}`` routes."""

    @router.add("POST", "/interactions/{webhook_id}/{webhook_token}/callback", bot_auth=False)
    async def callback(ctx: Ctx) -> Reply:
        state, req = ctx.state, ctx.req
        inter = state.interactions.get(ctx.int_param("webhook_id") or 0)
        if inter is None or inter.token != ctx.param("webhook_token"):
            return error(*UNKNOWN_INTERACTION)
        req.interaction_id = inter.id
        now = time.monotonic()
        if inter.callbacks:
            return error(*ALREADY_ACKNOWLEDGED)
        if now - inter.created_at > state.config.callback_deadline:
            return error(*UNKNOWN_INTERACTION)
        payload: JSON = req.payload or {}
        kind = int(payload.get("type", 0))
        data: JSON = payload.get("data") or {}
        msg: FakeMessage | None = None
        invalid_here = error(400, "Interaction callback type is not valid here", 50035)
        if (inter.type == AUTOCOMPLETE) != (kind == AUTOCOMPLETE_RESULT):
            return invalid_here
        if kind == AUTOCOMPLETE_RESULT:
            refusal = validate_choices(data)
            if refusal is not None:
                return refusal
        elif kind == CHANNEL_MESSAGE:
            refusal = validate_message(
                data, req.files, state.config.attachment_size_limit, is_edit=False
            )
            if refusal is not None:
                return refusal
            msg = inter.original = _new_response(ctx, inter, data)
        elif kind == DEFERRED_CHANNEL_MESSAGE:
            flags = (int(data.get("flags") or 0) & FLAG_EPHEMERAL) | FLAG_LOADING
            msg = inter.original = _new_response(ctx, inter, {"content": ""}, flags)
        elif kind in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE) and inter.source_message:
            msg = inter.original = inter.source_message
            if kind == UPDATE_MESSAGE:
                state.edit_message(msg, data, req.files, req)
            else:
                msg = None
        elif kind == MODAL and inter.type in (APPLICATION_COMMAND, MESSAGE_COMPONENT):
            refusal = validate_modal(data)
            if refusal is not None:
                return refusal
        else:
            return invalid_here
        if msg is not None:
            req.message_id = msg.id
        inter.callbacks.append(FakeCallback(kind, data or None, now, now - inter.created_at, req))
        state.signal.pulse()
        if not _truthy(req.query.get("with_response")):
            return no_content()
        return ok(_callback_body(inter, kind, msg))

    base = "/webhooks/{webhook_id}/{webhook_token}"
    for suffix in ("/messages/@original", "/messages/{message_id}"):

        @router.add("GET", base + suffix, bot_auth=False)
        async def get_response(ctx: Ctx) -> Reply:
            inter = _interaction(ctx)
            if isinstance(inter, Reply):
                return inter
            msg = _target(ctx, inter)
            return msg if isinstance(msg, Reply) else ok(msg.to_json())

        @router.add("PATCH", base + suffix, bot_auth=False)
        async def edit_response(ctx: Ctx) -> Reply:
            inter = _interaction(ctx)
            if isinstance(inter, Reply):
                return inter
            msg = _target(ctx, inter)
            if isinstance(msg, Reply):
                return msg
            payload: JSON = ctx.req.payload or {}
            limit = ctx.state.config.attachment_size_limit
            refusal = validate_message(payload, ctx.req.files, limit, is_edit=True)
            if refusal is not None:
                return refusal
            return ok(ctx.state.edit_message(msg, payload, ctx.req.files, ctx.req).to_json())

        @router.add("DELETE", base + suffix, bot_auth=False)
        async def delete_response(ctx: Ctx) -> Reply:
            inter = _interaction(ctx)
            if isinstance(inter, Reply):
                return inter
            msg = _target(ctx, inter)
            if isinstance(msg, Reply):
                return msg
            ctx.state.delete_message(msg)
            return no_content()

    @router.add("POST", base, bot_auth=False)
    async def followup(ctx: Ctx) -> Reply:
        inter = _interaction(ctx)
        if isinstance(inter, Reply):
            return inter
        if not inter.callbacks or inter.type == AUTOCOMPLETE:
            return unknown("Webhook", 10015)
        state, req = ctx.state, ctx.req
        payload: JSON = req.payload or {}
        refusal = validate_message(
            payload, req.files, state.config.attachment_size_limit, is_edit=False
        )
        if refusal is not None:
            return refusal
        original = inter.original
        if original is not None and original.loading and inter.type != MESSAGE_COMPONENT:
            # Discord turns the first follow-up after a deferral into the deferred message.
            msg = state.edit_message(original, payload, req.files, req)
        else:
            flags = int(payload.get("flags") or 0)
            msg = _new_response(ctx, inter, payload, flags & FLAG_EPHEMERAL)
        inter.followups.append(msg)
        req.message_id = msg.id
        state.signal.pulse()
        return ok(msg.to_json()) if _truthy(req.query.get("wait")) else no_content()
