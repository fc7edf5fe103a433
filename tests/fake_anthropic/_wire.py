"""The Messages API's wire shapes: SSE events, message JSON, error bodies.

Shapes follow the API reference (and what the installed SDK's stream accumulator
reads): a stream is ``message_start`` (with the input usage), per content block a
``content_block_start``, ``content_block_delta``s and ``content_block_stop``, then
``message_delta`` (stop reason, cumulative usage) and ``message_stop``; ``ping``
events may come anywhere; an ``error`` event may end the stream instead.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

ERROR_MESSAGES: Mapping[str, str] = {
    "invalid_request_error": "There was an issue with the format or content of your request.",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "The requested resource could not be found.",
    "timeout_error": "The request timed out.",
    "conflict_error": "The request conflicts with another request.",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "This request would exceed your organization's rate limit. "
    "Please reduce the prompt length or the maximum tokens requested, or try again later.",
    "api_error": "Internal server error",
    "overloaded_error": "Overloaded",
}

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    """An id in the API's style (``msg_…``, ``toolu_…``, ``req_…``)."""
    return f"{prefix}_{next(_ids):04d}{uuid.uuid4().hex[:20]}"


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def as_json(self, *, output_tokens: int | None = None) -> JSON:
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "output_tokens": self.output_tokens if output_tokens is None else output_tokens,
        }


def error_body(
    error_type: str, message: str | None = None, *, error_code: str | None = None
) -> JSON:
    """An error body as the API sends it (``error.details.error_code`` when it has one)."""
    error: JSON = {"type": error_type, "message": message or ERROR_MESSAGES.get(error_type, "")}
    if error_code is not None:
        error["details"] = {"error_code": error_code}
    return {"type": "error", "error": error, "request_id": new_id("req")}


def sse(event: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@dataclass(frozen=True)
class Reply:
    """One assistant answer, before it is put on the wire as JSON or as a stream."""

    kind: str  # "tool_use" or "text"
    payload: str
    """The tool input as JSON text (possibly cut off by max_tokens), or the text."""
    tool_name: str
    stop_reason: str
    usage: Usage
    model: str
    block_id: str = field(default_factory=lambda: new_id("toolu"))

    def block(self, parsed_input: JSON | None = None) -> JSON:
        if self.kind == "text":
            return {"type": "text", "text": self.payload}
        return {
            "type": "tool_use",
            "id": self.block_id,
            "name": self.tool_name,
            "input": parsed_input if parsed_input is not None else {},
        }

    def message_json(self, message_id: str, parsed_input: JSON | None) -> JSON:
        return {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [self.block(parsed_input)],
            "stop_reason": self.stop_reason,
            "stop_sequence": None,
            "usage": self.usage.as_json(),
        }

    def opening(self, message_id: str) -> list[tuple[str, JSON]]:
        """The events before the first content delta."""
        start = self.message_json(message_id, None)
        start.update(content=[], stop_reason=None, usage=self.usage.as_json(output_tokens=1))
        first = self.block()
        if self.kind == "text":
            first["text"] = ""
        return [
            ("message_start", {"type": "message_start", "message": start}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": first},
            ),
            ("ping", {"type": "ping"}),
        ]

    def deltas(self, chunk_chars: int) -> Iterator[tuple[str, JSON]]:
        for i in range(0, len(self.payload), chunk_chars):
            piece = self.payload[i : i + chunk_chars]
            delta = (
                {"type": "text_delta", "text": piece}
                if self.kind == "text"
                else {"type": "input_json_delta", "partial_json": piece}
            )
            yield "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}

    def closing(self) -> list[tuple[str, JSON]]:
        return [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                    "usage": self.usage.as_json(),
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
