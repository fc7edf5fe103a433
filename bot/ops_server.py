"""The operator's HTTP server in the bot's process: health, readiness, metrics, the dashboard.

Off unless ``SHOWRUNNER_HTTP_PORT`` is set; on loopback unless ``SHOWRUNNER_HTTP_HOST`` says
otherwise. ``/healthz`` answers when the event loop does (a blocked loop cannot answer at all);
``/readyz`` says whether the bot can take episodes (gateway, database, provider); ``/metrics``
is Prometheus' text format; ``/`` and ``/events`` are the live dashboard, behind
``SHOWRUNNER_DASHBOARD_TOKEN``. No access log: the dashboard's URL carries its token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

__all__ = ["Check", "OpsServer", "ReadinessProbe"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


class ReadinessProbe(Protocol):
    """What the server asks of the bot; the bot's operations part answers."""

    def liveness(self) -> Mapping[str, Any]: ...

    def readiness(self) -> Mapping[str, Callable[[], Awaitable[Check]]]: ...

    def exposition(self) -> bytes: ...

    def snapshot(self) -> Mapping[str, Any]: ...


class OpsServer:
    def __init__(
        self,
        probe: ReadinessProbe,
        *,
        host: str,
        port: int,
        token: str | None,
        interval: float,
    ) -> None:
        self.probe = probe
        self.host = host
        self.port = port
        self.token = token
        self.interval = interval
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    @property
    def url(self) -> str:
        """Where it listens (the real port once started, when 0 asked for a free one)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/", self._dashboard)
        app.router.add_get("/events", self._events)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            self._runner = None
            raise
        self.port = self._runner.addresses[0][1]  # the one chosen, when 0 asked for any
        log.info("operations server on %s (/healthz /readyz /metrics /)", self.url)

    async def stop(self) -> None:
        self._closing.set()  # ends the dashboards' event streams
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # -- health --------------------------------------------------------------------------

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok", **self.probe.liveness()})

    async def _readyz(self, _: web.Request) -> web.Response:
        checks = self.probe.readiness()
        results = await asyncio.gather(*(check() for check in checks.values()))
        ready = all(result.ok for result in results)
        body = {
            "status": "ready" if ready else "not ready",
            "checks": {
                name: {"ok": result.ok, "detail": result.detail}
                for name, result in zip(checks, results, strict=True)
            },
        }
        return web.json_response(body, status=200 if ready else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        response = web.Response(body=self.probe.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    # -- the dashboard -------------------------------------------------------------------

    def _refusal(self, request: web.Request) -> web.Response | None:
        """None when the request carries the dashboard's token, else the answer to send."""
        if self.token is None:
            return web.Response(
                status=404,
                text="The dashboard is off: set SHOWRUNNER_DASHBOARD_TOKEN to turn it on.\n",
            )
        given = request.query.get("token")
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            given = header.removeprefix("Bearer ").strip()
        if not given:
            return web.Response(
                status=401,
                text="The dashboard needs its token: open /?token=<SHOWRUNNER_DASHBOARD_TOKEN>.\n",
                headers={"WWW-Authenticate": 'Bearer realm="showrunner"'},
            )
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return web.Response(status=403, text="Wrong dashboard token.\n")
        return None

    async def _dashboard(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        page = resources.files("bot").joinpath("dashboard.html").read_text(encoding="utf-8")
        return web.Response(
            text=page,
            content_type="text/html",
            headers={
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",  # the URL carries the token
                "Content-Security-Policy": (
                    "default-src 'none'; script-src 'unsafe-inline'; "
                    "style-src 'unsafe-inline'; connect-src 'self'; img-src data:"
                ),
            },
        )

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: the dashboard's snapshot every ``interval`` seconds."""
        refused = self._refusal(request)
        if refused is not None:
            return refused
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",  # a reverse proxy must not hold the stream
            }
        )
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError):
            while not self._closing.is_set():
                started = time.monotonic()
                data = json.dumps(self.probe.snapshot(), separators=(",", ":"))
                await response.write(f"data: {data}\n\n".encode())
                wait = self.interval - (time.monotonic() - started)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), max(wait, 0.01))
        return response
