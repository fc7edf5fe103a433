"""What the fake saw (recorded requests) and what it was told to do (scripted replies)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .schema_fill import fill_schema

JSON = dict[str, Any]
Responder = Callable[[JSON], JSON]
"""Turns a request body into the input of the tool it forces."""

Outcome = Literal["pending", "ok", "error_status", "stream_error", "dropped", "client_closed"]


def forced_tool(body: Mapping[str, Any]) -> str | None:
    """The tool a request makes the model call: the forced one, else the first declared."""
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool":
        return str(choice.get("name"))
    tools = body.get("tools") or []
    if tools and choice.get("type") != "none":
        return str(tools[0].get("name"))
    return None


def last_user_text(body: Mapping[str, Any]) -> str:
    """The text of the last text block of the last user turn: a step's own prompt, or the
    repair message of a second attempt."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        texts = [b.get("text", "") for b in content or [] if b.get("type") == "text"]
        results = [b for b in content or [] if b.get("type") == "tool_result"]
        if texts:
            return str(texts[-1])
        if results:
            inner = results[-1].get("content", "")
            return (
                inner
                if isinstance(inner, str)
                else " ".join(b.get("text", "") for b in inner if b.get("type") == "text")
            )
    return ""


@dataclass(eq=False)
class RecordedRequest:
    """One ``POST /v1/messages`` as the fake received it, and how it ended."""

    index: int
    body: JSON
    headers: dict[str, str]
    """Header names lower-cased."""
    started: float
    """``time.monotonic()`` when the request arrived."""
    finished: float | None = None
    outcome: Outcome = "pending"
    status: int = 200
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    """Set when the fake has finished with the request, whatever the outcome."""
    payload: str = field(default="", repr=False)
    """The answer's tool input (JSON text) or text, once the fake has made it."""
    written: list[tuple[float, int]] = field(default_factory=list, repr=False)
    """A streamed answer's content deltas as they were written: ``time.monotonic()``, and how
    many characters of ``payload`` had been sent by then."""

    @property
    def api_key(self) -> str | None:
        """The key the client sent: SDK 2.x sends ``Authorization: Bearer``, older
        clients and curl examples ``x-api-key``; the API takes either."""
        bearer = self.headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            return bearer[len("bearer ") :]
        return self.headers.get("x-api-key")

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def tool_name(self) -> str | None:
        return forced_tool(self.body)

    @property
    def declared_tools(self) -> list[str]:
        """The names of the tools the request declares, in order."""
        return [str(t.get("name")) for t in self.body.get("tools") or []]

    @property
    def system_blocks(self) -> list[JSON]:
        """The system prompt's blocks (a string becomes one block)."""
        system = self.body.get("system")
        if system is None:
            return []
        return [{"type": "text", "text": system}] if isinstance(system, str) else list(system)

    @property
    def last_user_text(self) -> str:
        return last_user_text(self.body)

    @property
    def messages(self) -> list[JSON]:
        return list(self.body.get("messages") or [])

    def user_blocks(self, turn: int = 0) -> list[JSON]:
        """The content blocks of the ``turn``-th user message (strings become one block)."""
        users = [m for m in self.messages if m.get("role") == "user"]
        content = users[turn]["content"]
        return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


class SchemaResponder:
    """The default responder: a valid instance of the forced tool's ``input_schema``,
    seeded by the tool and the prompt, so the same request gets the same answer and
    two scenes get different ones."""

    def __init__(self, seed: int = 0, *, max_items: int = 4) -> None:
        self.seed = seed
        self.max_items = max_items

    def __call__(self, body: JSON) -> JSON:
        name = forced_tool(body)
        tool = next(t for t in body.get("tools") or [] if t.get("name") == name)
        key = f"{self.seed}|{name}|{last_user_text(body)}".encode()
        seed = int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
        value = fill_schema(tool["input_schema"], seed, max_items=self.max_items)
        if not isinstance(value, dict):
            raise TypeError(f"tool {name!r} has a non-object input_schema")
        return value


# -- scripted replies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolAnswer:
    input: JSON
    usage: Mapping[str, int] | None = None
    stop_reason: str | None = None


@dataclass(frozen=True)
class TextAnswer:
    text: str
    usage: Mapping[str, int] | None = None
    stop_reason: str = "end_turn"


@dataclass(frozen=True)
class StatusAnswer:
    status: int
    body: Any
    headers: Mapping[str, str]


@dataclass(frozen=True)
class StreamFault:
    """Fail a streamed answer after ``after_chunks`` content deltas: with an SSE
    ``error`` event (``error_type`` set) or by dropping the connection (None)."""

    after_chunks: int
    error_type: str | None
    message: str | None = None
    input: JSON | None = None


Action = ToolAnswer | TextAnswer | StatusAnswer | StreamFault


@dataclass(frozen=True)
class Scripted:
    action: Action
    match: Callable[[RecordedRequest], bool] | None = None


def compile_match(
    match: str | Callable[[RecordedRequest], bool] | None,
) -> Callable[[RecordedRequest], bool] | None:
    """A string matches requests forcing that tool; a callable is used as is."""
    if match is None or callable(match):
        return match
    name = match
    return lambda request: request.tool_name == name
