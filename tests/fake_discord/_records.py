"""The request journal and the wake-up signal every ``wait_*`` helper uses.

Tests assert on what the bot *sent* (order, timing, payloads), so every HTTP
request is kept, including the ones the fake refused.  Waiting is event
driven: each change to the fake's state pulses a :class:`Signal`, and waiters
re-check their condition only then, so there is no sleep-polling.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


class Signal:
    """A broadcast "something changed" pulse.

    ``pulse()`` is synchronous so it can be called from any handler; each
    waiter holds the event that was current when it last checked, so a pulse
    between the check and the wait is never lost.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def pulse(self) -> None:
        """Wakes every current waiter."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(
        self,
        probe: Callable[[], T | None],
        timeout: float,  # noqa: ASYNC109
        what: str = "condition",
    ) -> T:
        """Returns the first non-None ``probe()`` result, re-checking on each pulse.

        Raises ``TimeoutError`` naming ``what`` after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            event = self._event
            result = probe()
            if result is not None:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"fake_discord: timed out after {timeout}s waiting for {what}")
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                continue


@dataclass
class UploadedFile:
    """One file part of a multipart request (``files[n]``)."""

    field: str
    filename: str
    content_type: str
    data: bytes

    @property
    def index(self) -> int | None:
        """``n`` of a ``files[n]`` field, which attachment ``id``s refer to."""
        if self.field.startswith("files[") and self.field.endswith("]"):
            return int(self.field[6:-1])
        return None


@dataclass(eq=False)
class RecordedRequest:
    """One HTTP request the fake received, and what it answered.

    ``route`` is discord.py's own template, e.g.
    ``"PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original"``, or
    None for a path the fake does not know (answered 404).
    """

    method: str
    path: str
    route: str | None
    path_params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    timestamp: float
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)
    status: int | None = None
    response: Any = None
    interaction_id: int | None = None
    message_id: int | None = None

    @property
    def done(self) -> bool:
        """True once the fake has answered it."""
        return self.status is not None

    @property
    def payload(self) -> Any:
        """The JSON body, or the parsed ``payload_json`` part of a multipart body."""
        if self.json is not None:
            return self.json
        raw = self.form.get("payload_json")
        return json.loads(raw) if raw is not None else None

    @property
    def allowed_mentions(self) -> Any:
        """``allowed_mentions`` as the bot sent it (None when absent)."""
        payload = self.payload
        return payload.get("allowed_mentions") if isinstance(payload, dict) else None

    def describe(self) -> str:
        """One line for failure messages."""
        return f"{self.method} {self.path} -> {self.status}"


RequestPredicate = Callable[[RecordedRequest], bool]


@dataclass
class RequestLog:
    """All recorded requests, in arrival order, with filters."""

    signal: Signal
    items: list[RecordedRequest] = field(default_factory=list)

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> RecordedRequest:
        return self.items[index]

    def add(self, request: RecordedRequest) -> None:
        """Appends a request that just arrived."""
        self.items.append(request)
        self.signal.pulse()

    def filter(
        self,
        method: str | None = None,
        route: str | None = None,
        *,
        interaction: Any = None,
        message_id: int | None = None,
        status: int | None = None,
    ) -> list[RecordedRequest]:
        """Requests matching all given criteria.

        ``route`` is a template with or without the method (``"/channels/{channel_id}/messages"``);
        ``interaction`` is a FakeInteraction or an interaction id.
        """
        interaction_id = getattr(interaction, "id", interaction)
        out = []
        for req in self.items:
            if method is not None and req.method != method.upper():
                continue
            if route is not None and not route_matches(route, req):
                continue
            if interaction_id is not None and req.interaction_id != interaction_id:
                continue
            if message_id is not None and req.message_id != message_id:
                continue
            if status is not None and req.status != status:
                continue
            out.append(req)
        return out

    async def wait_for(
        self,
        predicate: RequestPredicate,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        since: float = 0.0,
    ) -> RecordedRequest:
        """The first *answered* request matching ``predicate`` arriving at/after ``since``."""

        def probe() -> RecordedRequest | None:
            return next(
                (r for r in self.items if r.done and r.timestamp >= since and predicate(r)), None
            )

        return await self.signal.wait_until(probe, timeout, "a matching request")


def route_matches(pattern: str, request: RecordedRequest) -> bool:
    """Whether ``request`` is on ``pattern`` (``"METHOD /template"`` or ``"/template"``)."""
    if request.route is None:
        return False
    if " " in pattern:
        return request.route == pattern
    return request.route.split(" ", 1)[1] == pattern
