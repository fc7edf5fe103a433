"""``FakeDiscord``: the server on 127.0.0.1 and the API tests drive it with."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

import yarl
from aiohttp import web

from ._actions import Actions
from ._faults import RequestMatcher
from ._gateway import Gateway, Handshake
from ._interactions import FakeInteraction
from ._messages import FakeMessage
from ._models import JSON, FakeChannel, FakeGuild, FakeUser
from ._records import RecordedRequest, RequestLog, RequestPredicate
from ._rest import RestApp, Router, add_meta_routes
from ._rest_channels import add_channel_routes
from ._rest_interactions import add_interaction_routes
from ._state import FakeConfig, FakeState

#: Routes whose payload is (or, for callbacks, holds under ``data``) a message.
MESSAGE_WRITE_ROUTES = frozenset(
    {
        "POST /channels/{channel_id}/messages",
        "PATCH /channels/{channel_id}/messages/{message_id}",
        "POST /webhooks/{webhook_id}/{webhook_token}",
        "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original",
        "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
        "POST /interactions/{webhook_id}/{webhook_token}/callback",
    }
)


def written_message(request: RecordedRequest) -> JSON | None:
    """The message body a request writes (callback types 4 and 7 only), else None."""
    if request.route not in MESSAGE_WRITE_ROUTES or not isinstance(request.payload, dict):
        return None
    payload: JSON = request.payload
    if request.route.startswith("POST /interactions/"):
        if payload.get("type") not in (4, 7):
            return None
        data = payload.get("data")
        return data if isinstance(data, dict) else {}
    return payload


def pings_nobody(allowed_mentions: Any) -> bool:
    """Whether ``allowed_mentions`` forbids every ping (``{"parse": []}`` and no lists)."""
    if not isinstance(allowed_mentions, dict):
        return False
    return (
        allowed_mentions.get("parse") == []
        and not allowed_mentions.get("users")
        and not allowed_mentions.get("roles")
        and not allowed_mentions.get("replied_user")
    )


class FakeDiscord:
    """A wire-level Discord (REST v10 + gateway) for the real discord.py.

    ``async with FakeDiscord() as fake:`` listens on 127.0.0.1 with a free
    port; point discord.py at it with :meth:`patch_discord_py` (or by setting
    ``Route.BASE`` to :attr:`rest_base` and ``DEFAULT_GATEWAY`` to
    :attr:`gateway_url`).
    """

    def __init__(
        self,
        bot_token: str = "fake-bot-token",
        *,
        heartbeat_interval_ms: int = 41250,
        token_lifetime: float = 15 * 60,
        callback_deadline: float = 3.0,
        attachment_size_limit: int = 10 * 1024 * 1024,
        nonce_window: float = 5 * 60,
        dispatch_message_events: bool = True,
        gateway_compression: bool = True,
    ) -> None:
        """The settings are :class:`FakeConfig`'s (see there); they stay adjustable
        at run time through :attr:`config`, e.g. ``fake.config.token_lifetime = 2``."""
        self.config = FakeConfig(
            bot_token=bot_token,
            heartbeat_interval_ms=heartbeat_interval_ms,
            token_lifetime=token_lifetime,
            callback_deadline=callback_deadline,
            attachment_size_limit=attachment_size_limit,
            nonce_window=nonce_window,
            dispatch_message_events=dispatch_message_events,
            gateway_compression=gateway_compression,
        )
        self.state = FakeState(self.config)
        self.gateway = Gateway(self.state, lambda: str(self.gateway_url))
        self.actions = Actions(self.gateway)
        router = Router()
        add_meta_routes(router, lambda: str(self.gateway_url))
        add_channel_routes(router)
        add_interaction_routes(router)
        self._rest = RestApp(self.state, router)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Starts listening on 127.0.0.1 (a free port)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{tail:.*}", self._rest.handle_api)
        app.router.add_get(
            "/attachments/{channel_id}/{attachment_id}/{filename}", self._rest.handle_cdn
        )
        app.router.add_get("/{tail:.*}", self.gateway.handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.state.http_base = f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        """Closes every gateway socket and stops the server."""
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def rest_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be, e.g. ``http://127.0.0.1:PORT/api/v10``."""
        return f"{self.state.http_base}/api/v10"

    @property
    def gateway_url(self) -> yarl.URL:
        """What ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` must be."""
        return yarl.URL(f"ws://127.0.0.1:{self.port}/")

    @contextlib.contextmanager
    def patch_discord_py(self) -> Iterator[None]:
        """Points discord.py's two URLs here for the block, then restores them."""
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self.rest_base, self.gateway_url
        try:
            yield
        finally:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway

    # --- the world ------------------------------------------------------------

    @property
    def application_id(self) -> int:
        """The application's id (also the bot user's id)."""
        return self.state.application_id

    @property
    def bot_user(self) -> FakeUser:
        """The bot's own user."""
        return self.state.bot_user

    @property
    def guilds(self) -> list[FakeGuild]:
        """Every guild the bot is in."""
        return self.state.guilds

    def add_guild(self, name: str) -> FakeGuild:
        """A new guild with the bot in it (GUILD_CREATE if the bot is already connected)."""
        return self.state.add_guild(name)

    def commands(self, guild: FakeGuild | None = None) -> list[JSON]:
        """Commands the bot synced, globally or (with ``guild``) to that guild."""
        if guild is None:
            return self.state.global_commands
        return self.state.guild_commands.get(guild.id, [])

    def messages(self, channel: FakeChannel) -> list[FakeMessage]:
        """The channel's visible, non-deleted messages, oldest first."""
        return list(self.state.channel_messages.get(channel.id, []))

    def message(self, message_id: int) -> FakeMessage:
        """Any stored message (deleted and ephemeral ones included)."""
        return self.state.messages_by_id[message_id]

    def interaction(self, interaction_id: int) -> FakeInteraction:
        """An interaction the fake dispatched."""
        return self.state.interactions[interaction_id]

    # --- user actions ---------------------------------------------------------

    async def invoke_slash_command(
        self,
        guild: FakeGuild,
        channel: FakeChannel,
        user: FakeUser,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        require_synced: bool = False,
        wait_delivered: float | None = 5.0,
    ) -> FakeInteraction:
        """``user`` runs ``/name`` in ``channel``; returns once the event was sent
        (within ``wait_delivered`` s; None to return at once, e.g. while disconnected).
        A :class:`FakeUpload` value fills a file option (type 11): it is served by the
        fake and sent in ``data.resolved.attachments``, as Discord does."""
        return await self.actions.slash_command(
            guild,
            channel,
            user,
            name,
            options,
            require_synced=require_synced,
            wait_delivered=wait_delivered,
        )

    async def autocomplete(
        self,
        guild: FakeGuild,
        channel: FakeChannel,
        user: FakeUser,
        name: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        require_synced: bool = False,
        wait_delivered: float | None = 5.0,
    ) -> FakeInteraction:
        """``user`` is typing in option ``focused`` of ``/name`` (``options`` holds what is
        filled in so far, ``options[focused]`` the partial text); the bot's choices arrive as
        callback type 8: ``(await inter.wait_for_callback()).data["choices"]``."""
        return await self.actions.autocomplete(
            guild,
            channel,
            user,
            name,
            options,
            focused,
            require_synced=require_synced,
            wait_delivered=wait_delivered,
        )

    async def click_button(
        self,
        message: FakeMessage,
        custom_id: str,
        user: FakeUser,
        *,
        values: list[str] | None = None,
        wait_delivered: float | None = 5.0,
    ) -> FakeInteraction:
        """``user`` clicks a button (or picks ``values`` in a select) on a stored message."""
        return await self.actions.click(
            message, custom_id, user, values=values, wait_delivered=wait_delivered
        )

    async def submit_modal(
        self,
        opened_by: FakeInteraction,
        values: Mapping[str, str | list[str]],
        user: FakeUser | None = None,
        *,
        wait_delivered: float | None = 5.0,
    ) -> FakeInteraction:
        """Submits the modal the bot opened in answer to ``opened_by``: ``values`` maps
        custom_ids to what the user typed; fields not in it keep their prefilled value.
        Raises ValueError for what the form refuses (unknown field, empty required
        field, text outside min_length..max_length)."""
        return await self.actions.submit_modal(
            opened_by, values, user, wait_delivered=wait_delivered
        )

    def send_user_message(self, channel: FakeChannel, user: FakeUser, content: str) -> FakeMessage:
        """``user`` posts ``content`` in ``channel`` (MESSAGE_CREATE to the bot)."""
        return self.actions.user_message(channel, user, content)

    def dispatch(self, event: str, data: JSON) -> None:
        """Sends a raw dispatch event on the current gateway session."""
        self.gateway.dispatch(event, data)

    # --- gateway --------------------------------------------------------------

    async def wait_until_ready(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Waits until the bot identified and received READY and every GUILD_CREATE."""
        await self.state.signal.wait_until(
            lambda: True if self.gateway.ready() else None, timeout, "the bot to be ready"
        )

    async def wait_for_identify_or_resume(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        since: float | None = None,
        op: str | None = None,
    ) -> Handshake:
        """The first IDENTIFY/RESUME (or only ``op``) at or after ``since``
        (default: the last drop_gateway), accepted or refused."""
        start = self.gateway.last_drop_at if since is None else since
        return await self.state.signal.wait_until(
            lambda: next(
                (
                    h
                    for h in self.gateway.handshakes
                    if h.at >= start and (op is None or h.op == op)
                ),
                None,
            ),
            timeout,
            f"{op or 'an IDENTIFY or RESUME'}",
        )

    async def drop_gateway(self, code: int = 4000, *, invalidate: bool = False) -> None:
        """Closes the bot's websocket (1006: TCP cut without close frame); with
        ``invalidate`` its next RESUME is refused with INVALID_SESSION."""
        await self.gateway.drop(code, invalidate=invalidate)

    def request_reconnect(self) -> None:
        """Sends op 7 RECONNECT (discord.py reconnects and resumes)."""
        self.gateway.send_op(7, None)

    def invalidate_session(self) -> None:
        """Sends op 9 INVALID_SESSION (not resumable: discord.py re-identifies)."""
        self.gateway.send_op(9, False)

    @property
    def gateway_connects(self) -> int:
        """How many websocket connections the bot opened."""
        return len(self.gateway.connections)

    @property
    def gateway_connections(self) -> list[str]:
        """Path and query of each websocket connection (shows which URL was used)."""
        return list(self.gateway.connections)

    @property
    def handshakes(self) -> list[Handshake]:
        """Every IDENTIFY and RESUME, in order."""
        return list(self.gateway.handshakes)

    # --- requests and faults --------------------------------------------------

    @property
    def requests(self) -> RequestLog:
        """The journal of every HTTP request (``fake.requests.filter(...)``)."""
        return self.state.log

    @property
    def invalid_request_count(self) -> int:
        """401, 403 and 429 answers so far (Discord bans IPs that pile these up)."""
        return self.state.invalid_request_count

    def unknown_route_requests(self) -> list[RecordedRequest]:
        """Requests to paths the fake does not implement (answered 404)."""
        return [r for r in self.state.log if r.route is None]

    async def wait_for(
        self,
        predicate: RequestPredicate,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        since: float = 0.0,
    ) -> RecordedRequest:
        """The first answered request matching ``predicate`` (arrived at or after ``since``)."""
        return await self.state.log.wait_for(predicate, timeout, since=since)

    def message_writes(self) -> list[RecordedRequest]:
        """Requests that created or edited a message (callbacks of type 4/7 included)."""
        return [r for r in self.state.log if written_message(r) is not None]

    def mention_violations(self) -> list[RecordedRequest]:
        """Message writes whose ``allowed_mentions`` could ping someone (or is missing)."""
        return [
            r
            for r in self.message_writes()
            if not pings_nobody((written_message(r) or {}).get("allowed_mentions"))
        ]

    def rate_limit(
        self,
        match: RequestMatcher,
        *,
        times: int = 1,
        retry_after: float = 0.3,
        global_: bool = False,
    ) -> None:
        """Answers the next ``times`` matching requests with a genuine 429."""
        self.state.faults.add_rate_limit(match, times, retry_after, global_)

    def fail(
        self,
        match: RequestMatcher,
        *,
        status: int = 500,
        times: int = 1,
        message: str | None = None,
        code: int = 0,
    ) -> None:
        """Answers the next ``times`` matching requests with ``status`` (discord.py
        retries 500/502/504 itself after 1 s, 3 s...; 403 raises ``discord.Forbidden``)."""
        text = message or {403: "Missing Permissions", 500: "500: Internal Server Error"}.get(
            status, f"{status}: error"
        )
        self.state.faults.add_failure(match, times, status, text, code)

    def stall(self, match: RequestMatcher, *, seconds: float, times: int = 1) -> None:
        """Handles the next ``times`` matching requests (a message is created...) but holds
        the answer ``seconds``: the moment a client can die between "done" and "told"."""
        self.state.faults.add_stall(match, times, seconds)

    def emulate_bucket(
        self,
        match: RequestMatcher,
        *,
        limit: int = 5,
        per: float = 5.0,
        advertise: bool = False,
        key: Callable[[RecordedRequest], str] | None = None,
    ) -> None:
        """At most ``limit`` matching requests per ``per`` s per key (default: method
        and concrete path, i.e. per message); beyond that a 429. With ``advertise``
        successes carry ``X-RateLimit-*`` headers so discord.py can pace itself;
        without, only the bot's own pacing avoids the 429s."""
        self.state.faults.add_bucket(match, limit, per, advertise, key)
