"""The REST side: request parsing, journaling, auth, fault injection, routing.

Routes are matched against discord.py's own ``Route`` templates (the string
after the method in ``Route('PATCH', '/channels/{channel_id}/...')``), so a
test can filter the journal with the very template the library used.
Every request is journaled before anything can refuse it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from ._records import RecordedRequest, UploadedFile
from ._replies import UNAUTHORIZED, Reply, error, ok
from ._state import FakeState

API_PREFIX = re.compile(r"^/api/v(?:9|10)(?P<rest>/.*)$")


@dataclass
class Ctx:
    """What a handler gets: the journal entry (which it may annotate) and the world."""

    req: RecordedRequest
    state: FakeState

    def param(self, name: str) -> str:
        """A path parameter as sent."""
        return self.req.path_params[name]

    def int_param(self, name: str) -> int | None:
        """A snowflake path parameter, or None when it is not a number."""
        value = self.req.path_params.get(name, "")
        return int(value) if value.isdigit() else None


Handler = Callable[[Ctx], Awaitable[Reply]]


@dataclass
class _Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Handler
    bot_auth: bool

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


class Router:
    """Route table; ``@router.add(...)`` registers a handler for a template."""

    def __init__(self) -> None:
        self.routes: list[_Route] = []

    def add(
        self, method: str, template: str, *, bot_auth: bool = True
    ) -> Callable[[Handler], Handler]:
        """Registers a handler; literal segments (``@original``) must be added before ``{x}``."""
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))

        def register(handler: Handler) -> Handler:
            regex = re.compile(f"^{pattern}$")
            self.routes.append(_Route(method, template, regex, handler, bot_auth))
            return handler

        return register

    def match(self, method: str, path: str) -> tuple[_Route, dict[str, str]] | None:
        """The route for this request and its path parameters."""
        for route in self.routes:
            if route.method != method:
                continue
            found = route.regex.match(path)
            if found is not None:
                return route, found.groupdict()
        return None


async def _read_body(request: web.Request, rec: RecordedRequest) -> None:
    """Fills ``json`` or ``form``/``files`` of the journal entry."""
    if not request.body_exists:
        return
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            data = await part.read(decode=False)
            name = part.name or ""
            if part.filename is not None:
                ctype = part.headers.get("Content-Type", "application/octet-stream")
                rec.files.append(UploadedFile(name, part.filename, ctype, bytes(data)))
            else:
                rec.form[name] = bytes(data).decode()
        return
    raw = await request.read()
    if raw:
        try:
            rec.json = json.loads(raw)
        except ValueError:
            rec.form["__raw__"] = raw.decode(errors="replace")


def _link(rec: RecordedRequest, state: FakeState) -> None:
    """Tags the entry with its interaction and message, for per-interaction filters."""
    params = rec.path_params
    token = params.get("webhook_token")
    if token is not None:
        found = state.interactions_by_token.get(token)
        if found is not None:
            rec.interaction_id = found.id
    message_id = params.get("message_id", "")
    if message_id.isdigit():
        rec.message_id = int(message_id)


class RestApp:
    """Turns aiohttp requests into journaled, possibly refused, handled requests."""

    def __init__(self, state: FakeState, router: Router) -> None:
        self.state = state
        self.router = router

    async def handle_api(self, request: web.Request) -> web.StreamResponse:
        """Entry point for everything under ``/api/v10``."""
        found = API_PREFIX.match(request.path)
        path = found.group("rest") if found else request.path
        matched = self.router.match(request.method, path)
        route, params = matched if matched else (None, {})
        rec = RecordedRequest(
            method=request.method,
            path=path,
            route=route.name if route else None,
            path_params=params,
            query=dict(request.query),
            headers=dict(request.headers),
            timestamp=time.monotonic(),
        )
        _link(rec, self.state)
        self.state.log.add(rec)
        await _read_body(request, rec)
        reply = await self._answer(rec, route)
        return self._finish(rec, reply)

    async def _answer(self, rec: RecordedRequest, route: _Route | None) -> Reply:
        if route is None:
            return error(404, "404: Not Found", 0)
        expected = f"Bot {self.state.config.bot_token}"
        if route.bot_auth and rec.headers.get("Authorization") != expected:
            return error(*UNAUTHORIZED)
        refusal, extra_headers = self.state.faults.check(rec)
        if refusal is not None:
            return refusal
        reply = await route.handler(Ctx(rec, self.state))
        if stall := self.state.faults.stall_for(rec):
            await asyncio.sleep(stall)
        for key, value in extra_headers.items():
            reply.headers.setdefault(key, value)
        return reply

    def _finish(self, rec: RecordedRequest, reply: Reply) -> web.StreamResponse:
        rec.status = reply.status
        rec.response = reply.body
        if reply.status in (401, 403, 429):
            self.state.invalid_request_count += 1
        self.state.signal.pulse()
        return reply.to_response()

    async def handle_cdn(self, request: web.Request) -> web.StreamResponse:
        """Serves attachment bytes, so ``discord.Attachment.read()`` works."""
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            route="GET /attachments/{channel_id}/{attachment_id}/{filename}",
            path_params=dict(request.match_info),
            query=dict(request.query),
            headers=dict(request.headers),
            timestamp=time.monotonic(),
        )
        self.state.log.add(rec)
        att_id = request.match_info.get("attachment_id", "")
        att = self.state.attachments.get(int(att_id)) if att_id.isdigit() else None
        if att is None:
            return self._finish(rec, error(404, "Not Found", 0))
        return self._finish(rec, Reply(200, raw=att.data, content_type=att.content_type))


def add_meta_routes(router: Router, ws_url: Callable[[], str]) -> None:
    """Login, gateway discovery, application info and application commands."""

    @router.add("GET", "/gateway")
    async def gateway(ctx: Ctx) -> Reply:
        return ok({"url": ws_url()})

    @router.add("GET", "/gateway/bot")
    async def gateway_bot(ctx: Ctx) -> Reply:
        config = ctx.state.config
        limit = {
            "total": 1000,
            "remaining": 999,
            "reset_after": 14400000,
            "max_concurrency": config.max_concurrency,
        }
        return ok({"url": ws_url(), "shards": config.shards, "session_start_limit": limit})

    @router.add("GET", "/users/@me")
    async def users_me(ctx: Ctx) -> Reply:
        data = ctx.state.bot_user.to_json()
        data.update({"verified": True, "mfa_enabled": False, "locale": "en-US"})
        return ok(data)

    @router.add("GET", "/guilds/{guild_id}/members/{user_id}")
    async def guild_member(ctx: Ctx) -> Reply:
        guild = ctx.state.guild(ctx.int_param("guild_id") or 0)
        member = guild.members.get(ctx.int_param("user_id") or 0) if guild else None
        if guild is None or member is None:
            return error(404, "Unknown Member", 10007)
        return ok(member.to_json())

    @router.add("GET", "/oauth2/applications/@me")
    async def application_info(ctx: Ctx) -> Reply:
        return ok(application_json(ctx.state))

    app = "/applications/{application_id}"
    for template in (app + "/commands", app + "/guilds/{guild_id}/commands"):

        @router.add("GET", template)
        async def get_commands(ctx: Ctx) -> Reply:
            return ok(_commands_in_scope(ctx))

        @router.add("PUT", template)
        async def put_commands(ctx: Ctx) -> Reply:
            if ctx.int_param("application_id") != ctx.state.application_id:
                return error(403, "Missing Access", 50001)
            guild_id = ctx.int_param("guild_id") if "guild_id" in ctx.req.path_params else None
            if guild_id is not None and ctx.state.guild(guild_id) is None:
                return error(403, "Missing Access", 50001)
            return ok(ctx.state.overwrite_commands(guild_id, list(ctx.req.json or [])))


def _commands_in_scope(ctx: Ctx) -> list[Any]:
    if "guild_id" in ctx.req.path_params:
        return ctx.state.guild_commands.get(ctx.int_param("guild_id") or 0, [])
    return ctx.state.global_commands


def application_json(state: FakeState) -> dict[str, Any]:
    """``GET /oauth2/applications/@me``: every key ``discord.AppInfo`` reads with ``[]``."""
    return {
        "id": str(state.application_id),
        "name": state.bot_user.username,
        "icon": None,
        "description": "A fake application for tests.",
        "rpc_origins": [],
        "bot_public": False,
        "bot_require_code_grant": False,
        "bot": state.bot_user.to_json(),
        "owner": state.owner.to_json(),
        "team": None,
        "verify_key": "0" * 64,
        "flags": 1 << 19,  # GATEWAY_MESSAGE_CONTENT_LIMITED, as for an unverified bot
        "summary": "",
        "tags": [],
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "approximate_guild_count": len(state.guilds),
        "integration_types_config": {"0": {}},
    }
