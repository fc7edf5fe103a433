"""One attempt on the wire: the request body, sent pre-serialized, and the streamed answer read
as plain JSON events.

Why not ``client.messages.stream()``: profiled per call (a 41-event answer, a mocked transport,
so only client CPU counts; ``bench/speed.py`` prints the current figures), the SDK's stream helper
took 7.1 ms, nearly all of it per event: it validates each event into a typed model, re-parses
the *whole* tool input so far on every ``input_json`` delta (partial JSON, so a long answer costs
quadratic time), and builds a second typed event carrying that snapshot. ``messages.create(
stream=True)`` without the helper took 2.7 ms; building the body (the SDK copies the whole params
tree, four JSON schemas included, then dumps it) was most of the rest. Here the episode's tools
are serialized once per process, the body is one string, and the stream is the SDK's own
``AsyncStream`` read as dicts (``cast_to=object``): 1.3 ms. What stays the SDK's is what matters
for correctness: the HTTP client, status errors and ``error`` events raised as
``APIStatusError``, and the final :class:`~anthropic.types.Message` built by its constructor.

The tool input is parsed once, when the answer ends; a step that wants it as it streams
(``StepRequest.on_partial``) gets a lenient parse each time a delta opens or closes an object.
An attempt's first content delta is its first token, reported to the step's timing
(:func:`~scriptgen.providers.base.first_token`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import jiter
from anthropic import AsyncAnthropic, AsyncStream
from anthropic.types import Message, MessageParam, TextBlockParam
from pydantic import ValidationError

from scriptgen.providers.base import first_token

__all__ = ["Wire", "open_stream", "read_message"]


@dataclass(frozen=True)
class Wire:
    """What every attempt of one step sends: all of the body but the messages, as JSON."""

    head: str
    """``{"model":…,"max_tokens":…,"stream":true,"tool_choice":…,"tools":…,"system":…,``"""
    on_partial: Callable[[Any], None] | None = None

    @classmethod
    def of(
        cls,
        model: str,
        max_tokens: int,
        tools_json: str,
        tool_name: str,
        system: Sequence[TextBlockParam],
        on_partial: Callable[[Any], None] | None = None,
    ) -> Wire:
        fixed = json.dumps(
            {
                "model": model,
                "max_tokens": max_tokens,
                "stream": True,
                "tool_choice": {"type": "tool", "name": tool_name},
            },
            separators=(",", ":"),
        )
        head = f'{fixed[:-1]},"tools":{tools_json},'
        if system:
            head += f'"system":{json.dumps(list(system), separators=(",", ":"))},'
        return cls(head, on_partial)

    def body(self, messages: Sequence[MessageParam]) -> bytes:
        return (
            f'{self.head}"messages":{json.dumps(list(messages), separators=(",", ":"))}}}'.encode()
        )


async def open_stream(
    client: AsyncAnthropic, wire: Wire, messages: Sequence[MessageParam]
) -> AsyncStream[object]:
    """Send the request; the stream once its headers are in (an error status raises the SDK's
    ``APIStatusError`` here, as ``messages.stream()`` does)."""
    return await client.post(
        "/v1/messages",
        cast_to=object,
        content=wire.body(messages),
        options={"headers": {"content-type": "application/json"}},
        stream=True,
        stream_cls=AsyncStream[object],  # events as parsed JSON, not validated into models
    )


async def read_message(
    stream: AsyncStream[object], on_partial: Callable[[Any], None] | None
) -> Message:
    """The whole answer, as the SDK's stream helper would have accumulated it.

    A stream that ends before ``message_delta`` gives a message whose ``stop_reason`` is None,
    which the caller treats as cut off.
    """
    message: dict[str, Any] = {
        "id": "",
        "type": "message",
        "role": "assistant",
        "model": "",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }
    blocks: list[dict[str, Any]] = []
    inputs: dict[int, list[str]] = {}
    begun = False
    async for item in stream:
        event = cast(dict[str, Any], item)
        kind = event.get("type")
        if kind == "content_block_delta":
            if not begun:
                begun = True
                first_token()
            index, delta = event["index"], event["delta"]
            if delta.get("type") == "input_json_delta":
                piece = delta.get("partial_json", "")
                parts = inputs.setdefault(index, [])
                parts.append(piece)
                if on_partial is not None and ("}" in piece or "{" in piece):
                    on_partial(_parse("".join(parts)))
            elif delta.get("type") == "text_delta" and index < len(blocks):
                blocks[index]["text"] = blocks[index].get("text", "") + delta.get("text", "")
        elif kind == "message_start":
            message = dict(event["message"])
            message["usage"] = dict(message.get("usage") or {})
        elif kind == "content_block_start":
            blocks.append(dict(event["content_block"]))
        elif kind == "message_delta":
            delta = event.get("delta") or {}
            message["stop_reason"] = delta.get("stop_reason")
            message["stop_sequence"] = delta.get("stop_sequence")
            usage = event.get("usage") or {}
            message["usage"]["output_tokens"] = usage.get("output_tokens", 0)
            for field in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
                if usage.get(field) is not None:
                    message["usage"][field] = usage[field]
    for index, parts in inputs.items():
        if index < len(blocks) and parts:
            blocks[index]["input"] = _parse("".join(parts))
    message["content"] = blocks
    try:
        return Message.model_validate(message)
    except ValidationError:  # a shape this SDK does not know: built leniently, as the SDK does
        return Message.construct(**message)


def _parse(text: str) -> Any:
    """Tool input JSON, leniently: what an answer cut off mid-way (max_tokens) holds so far."""
    return jiter.from_json(text.encode(), partial_mode=True)
