"""HTTP answers in the exact shape discord.py parses.

discord.py only decodes a body as JSON when ``Content-Type`` is exactly
``application/json`` (``json_or_text`` compares the whole header), so the
answers are built by hand rather than with ``aiohttp.web.json_response``,
which appends ``; charset=utf-8``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    """What a handler answers: a status, an optional JSON body, extra headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json"

    def to_response(self) -> web.Response:
        """The aiohttp response, with an exact JSON Content-Type."""
        headers = dict(self.headers)
        if self.raw is not None:
            headers["Content-Type"] = self.content_type
            return web.Response(status=self.status, body=self.raw, headers=headers)
        if self.body is None:
            return web.Response(status=self.status, headers=headers)
        headers["Content-Type"] = "application/json"
        body = json.dumps(self.body).encode()
        return web.Response(status=self.status, body=body, headers=headers)


def ok(body: Any) -> Reply:
    """200 with a JSON body."""
    return Reply(200, body)


def no_content() -> Reply:
    """204, as Discord answers deletes and non-``wait`` webhook executions."""
    return Reply(204)


def error(status: int, message: str, code: int = 0) -> Reply:
    """A Discord-style JSON error: ``{"message": ..., "code": ...}``."""
    return Reply(status, {"message": message, "code": code})


def unknown(kind: str, code: int) -> Reply:
    """404 for an unknown object, e.g. ``unknown("Message", 10008)``."""
    return error(404, f"Unknown {kind}", code)


UNAUTHORIZED = (401, "401: Unauthorized", 0)
INVALID_WEBHOOK_TOKEN = (401, "Invalid Webhook Token", 50027)
UNKNOWN_INTERACTION = (404, "Unknown interaction", 10062)
ALREADY_ACKNOWLEDGED = (400, "Interaction has already been acknowledged.", 40060)
