"""What a human does in the Discord client, turned into gateway events.

Each action checks what the real client would refuse (a user outside the
guild, an unknown option, a disabled button) and raises ``ValueError``, so
a test cannot pass by doing something no user could do.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Mapping
from typing import Any

from ._gateway import Gateway
from ._interactions import (
    APPLICATION_COMMAND,
    ATTACHMENT_OPTION,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL,
    MODAL_SUBMIT,
    FakeInteraction,
    FakeUpload,
    base_payload,
    build_command_data,
)
from ._messages import FakeMessage, flatten_components
from ._models import JSON, FakeChannel, FakeGuild, FakeUser

BUTTON = 2
TEXT_INPUT = 4
MESSAGE_CONTENT_INTENT = 1 << 15


class Actions:
    """Creates interactions and user messages on behalf of fake users."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.state = gateway.state

    async def _dispatch(
        self,
        kind: int,
        guild: FakeGuild,
        channel: FakeChannel,
        user: FakeUser,
        extra: JSON,
        source: FakeMessage | None,
        wait_delivered: float | None,
    ) -> FakeInteraction:
        if user.id not in guild.members:
            raise ValueError(f"{user.username} is not a member of {guild.name}")
        if guild.channel(channel.id) is None:
            raise ValueError(f"#{channel.name} is not in {guild.name}")
        if not self.gateway.ready():
            raise RuntimeError("the bot has no gateway session yet (await wait_until_ready())")
        state = self.state
        interaction_id = state.new_id()
        # Shaped like Discord's: urlsafe base64 of "interaction:<id>:<secret>".
        raw = f"interaction:{interaction_id}:{secrets.token_urlsafe(96)}"
        token = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        payload = base_payload(
            interaction_id=interaction_id,
            kind=kind,
            token=token,
            application_id=state.application_id,
            guild=guild,
            channel=channel,
            user=user,
            bot=state.bot_user,
            attachment_size_limit=state.config.attachment_size_limit,
        )
        payload.update(extra)
        inter = FakeInteraction(
            id=interaction_id,
            token=token,
            type=kind,
            payload=payload,
            guild=guild,
            channel=channel,
            user=user,
            created_at=time.monotonic(),
            _signal=state.signal,
            _log=state.log,
            source_message=source,
        )
        state.interactions[inter.id] = inter
        state.interactions_by_token[token] = inter

        def delivered() -> None:
            if inter.delivered_at is None:
                inter.delivered_at = time.monotonic()
                state.signal.pulse()

        self.gateway.dispatch("INTERACTION_CREATE", payload, delivered)
        if wait_delivered:
            await state.signal.wait_until(
                lambda: inter.delivered_at, wait_delivered, f"delivery of interaction {inter.id}"
            )
        return inter

    async def slash_command(
        self,
        guild: FakeGuild,
        channel: FakeChannel,
        user: FakeUser,
        name: str,
        options: Mapping[str, Any] | None,
        *,
        require_synced: bool,
        wait_delivered: float | None,
    ) -> FakeInteraction:
        """INTERACTION_CREATE type 2 for ``/name`` (``name`` may include subcommands)."""
        command, guild_scoped = self.state.find_command(name.split()[0], guild)
        if command is None and require_synced:
            raise ValueError(f"/{name} was never synced to {guild.name} or globally")
        options = dict(options or {})
        if command is not None:
            _check_options(command, name, options)
        limit = self.state.config.attachment_size_limit
        for key, value in options.items():
            if isinstance(value, FakeUpload) and len(value.data) > limit:
                raise ValueError(f"{key!r}: {value.filename} is over the {limit}-byte upload limit")
        data = build_command_data(
            command,
            name,
            options,
            guild,
            store_upload=lambda upload: self.state.store_upload(channel, upload),
        )
        if guild_scoped:
            data["guild_id"] = str(guild.id)
        return await self._dispatch(
            APPLICATION_COMMAND, guild, channel, user, {"data": data}, None, wait_delivered
        )

    async def autocomplete(
        self,
        guild: FakeGuild,
        channel: FakeChannel,
        user: FakeUser,
        name: str,
        options: Mapping[str, Any],
        focused: str,
        *,
        require_synced: bool,
        wait_delivered: float | None,
    ) -> FakeInteraction:
        """INTERACTION_CREATE type 4: ``user`` is typing ``options[focused]`` in ``/name``."""
        command, guild_scoped = self.state.find_command(name.split()[0], guild)
        if command is None and require_synced:
            raise ValueError(f"/{name} was never synced to {guild.name} or globally")
        options = dict(options)
        if focused not in options:
            raise ValueError(f"the focused option {focused!r} is not in {sorted(options)}")
        if any(isinstance(v, FakeUpload) for v in options.values()):
            raise ValueError("files are uploaded on submit; autocomplete never carries them")
        if command is not None:
            _check_options(command, name, options, focused=focused)
        data = build_command_data(command, name, options, guild, focused=focused)
        if guild_scoped:
            data["guild_id"] = str(guild.id)
        return await self._dispatch(
            AUTOCOMPLETE, guild, channel, user, {"data": data}, None, wait_delivered
        )

    async def click(
        self,
        message: FakeMessage,
        custom_id: str,
        user: FakeUser,
        *,
        values: list[str] | None,
        wait_delivered: float | None,
    ) -> FakeInteraction:
        """INTERACTION_CREATE type 3 for a component of a stored message."""
        component = message.component(custom_id)
        if component is None:
            raise ValueError(f"message {message.id} has no component {custom_id!r}")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled")
        if message.deleted:
            raise ValueError(f"message {message.id} was deleted")
        channel = self.state.channel(message.channel_id)
        if channel is None:
            raise ValueError(f"message {message.id} is not in a guild channel")
        component_type = int(component.get("type", BUTTON))
        data: JSON = {"custom_id": custom_id, "component_type": component_type}
        if component_type != BUTTON:
            data["values"] = list(values or [])
        extra = {"data": data, "message": message.to_json()}
        return await self._dispatch(
            MESSAGE_COMPONENT, channel.guild, channel, user, extra, message, wait_delivered
        )

    async def submit_modal(
        self,
        opened_by: FakeInteraction,
        values: Mapping[str, str | list[str]],
        user: FakeUser | None,
        *,
        wait_delivered: float | None,
    ) -> FakeInteraction:
        """INTERACTION_CREATE type 5 answering the modal the bot opened on ``opened_by``."""
        modal = next((cb.data for cb in opened_by.callbacks if cb.type == MODAL), None)
        if not isinstance(modal, dict):
            raise ValueError(f"interaction {opened_by.id} opened no modal")
        layout = list(modal.get("components", []))
        _check_modal_values(layout, values)
        data = {"custom_id": modal["custom_id"], "components": _submitted(layout, values)}
        extra: JSON = {"data": data}
        source = opened_by.source_message
        if source is not None:
            # A modal opened from a button carries that button's message, as on Discord.
            extra["message"] = source.to_json()
        return await self._dispatch(
            MODAL_SUBMIT,
            opened_by.guild,
            opened_by.channel,
            user or opened_by.user,
            extra,
            source,
            wait_delivered,
        )

    def user_message(self, channel: FakeChannel, user: FakeUser, content: str) -> FakeMessage:
        """A message typed by ``user``, echoed as MESSAGE_CREATE the way Discord
        filters it by intents: not at all without GUILD_MESSAGES (see the gateway),
        and with its content blanked without MESSAGE_CONTENT unless it mentions the bot."""
        state = self.state
        guild = channel.guild
        msg = FakeMessage(state.new_id(), channel.id, guild.id, user, content=content)
        state.messages_by_id[msg.id] = msg
        state.channel_messages.setdefault(channel.id, []).append(msg)
        mentioned = [m.user for m in guild.members.values() if m.user.mention in content]
        data = msg.to_json()
        data["mentions"] = [u.to_json() for u in mentioned]
        member = guild.members.get(user.id)
        if member is not None:
            data["member"] = member.to_json(with_user=False)
        intents = self.gateway.intents or 0
        if not intents & MESSAGE_CONTENT_INTENT and state.bot_user not in mentioned:
            data.update(content="", embeds=[], attachments=[], components=[])
        self.gateway.dispatch("MESSAGE_CREATE", data)
        state.signal.pulse()
        return msg


def _check_options(
    command: JSON, name: str, options: Mapping[str, Any], *, focused: str | None = None
) -> None:
    """Refuses what Discord's client would: unknown, missing required, off-choice options,
    a file for a non-file option (or the reverse); while typing (``focused``), only an
    option registered with ``autocomplete`` asks the bot, and the rest may be incomplete."""
    specs: list[JSON] = list(command.get("options", []))
    for word in name.split()[1:]:
        sub = next((o for o in specs if o.get("name") == word), None)
        if sub is None:
            raise ValueError(f"/{command['name']} has no subcommand {word!r}")
        specs = list(sub.get("options", []))
    known = {o["name"]: o for o in specs if o.get("type") not in (1, 2)}
    for key, value in options.items():
        spec = known.get(key)
        if spec is None:
            raise ValueError(f"/{name} has no option {key!r} (it has {sorted(known)})")
        if (spec.get("type") == ATTACHMENT_OPTION) != isinstance(value, FakeUpload):
            raise ValueError(f"{key!r} takes a FakeUpload if and only if it is a file option")
        if focused is not None:
            continue
        choices = [c["value"] for c in spec.get("choices", [])]
        if choices and value not in choices:
            raise ValueError(f"{value!r} is not a choice of {key!r}: {choices}")
    if focused is not None:
        if not known[focused].get("autocomplete"):
            raise ValueError(f"option {focused!r} of /{name} was not registered with autocomplete")
        return
    for key, spec in known.items():
        if spec.get("required") and key not in options:
            raise ValueError(f"/{name} requires option {key!r}")


def _check_modal_values(layout: list[Any], values: Mapping[str, str | list[str]]) -> None:
    """Refuses what the modal's form would not let a user submit."""
    fields = {str(c["custom_id"]): c for c in flatten_components(layout) if "custom_id" in c}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"the modal has no field {unknown} (it has {sorted(fields)})")
    for custom_id, comp in fields.items():
        if comp.get("type") != TEXT_INPUT:
            continue
        value = _typed(comp, values)
        if not isinstance(value, str):
            raise ValueError(f"text input {custom_id!r} takes a string, not {value!r}")
        if not value:
            if comp.get("required", True):
                raise ValueError(f"text input {custom_id!r} is required")
            continue
        low, high = int(comp.get("min_length") or 0), int(comp.get("max_length") or 4000)
        if not low <= len(value) <= high:
            raise ValueError(f"{custom_id!r} must be {low}-{high} characters, not {len(value)}")


def _typed(comp: JSON, values: Mapping[str, str | list[str]]) -> str | list[str]:
    """What the user submits in a field: what the test typed, else the prefilled value."""
    custom_id = str(comp["custom_id"])
    if custom_id in values:
        return values[custom_id]
    if comp.get("type") == TEXT_INPUT:
        return str(comp.get("value") or "")
    return []


def _submitted(components: list[Any], values: Mapping[str, str | list[str]]) -> list[JSON]:
    """Mirrors the modal's layout (rows or labels) with the typed (or prefilled) values."""
    out: list[JSON] = []
    for comp in components:
        if not isinstance(comp, dict):
            continue
        kind = comp.get("type")
        if kind == 1:
            out.append({"type": 1, "components": _submitted(comp.get("components", []), values)})
        elif kind == 18 and isinstance(comp.get("component"), dict):
            inner = _submitted([comp["component"]], values)
            if inner:
                out.append({"type": 18, "component": inner[0]})
        elif "custom_id" in comp:
            value = _typed(comp, values)
            item: JSON = {"type": kind, "custom_id": comp["custom_id"]}
            if "id" in comp:
                item["id"] = comp["id"]
            if isinstance(value, list):
                item["values"] = value
            else:
                item["value"] = value
            out.append(item)
    return out
