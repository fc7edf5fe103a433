"""The checks the real API makes before answering, with its 400 messages.

A fake that accepted any body would let a provider ship requests the API refuses:
an unpaired ``tool_result``, an empty text block, a forced tool that is not declared,
a fifth cache breakpoint. These are the mistakes a structured-output provider can
actually make, so the fake answers them the way the API does.
"""

from __future__ import annotations

import re
from typing import Any

JSON = dict[str, Any]

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
MAX_CACHE_BREAKPOINTS = 4


def request_problem(body: Any) -> str | None:
    """Why the API would reject this body (its message), or None when it is acceptable."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    for field in ("model", "max_tokens", "messages"):
        if field not in body:
            return f"{field}: Field required"
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    return (
        _tools_problem(body)
        or _system_problem(body.get("system"))
        or _messages_problem(messages)
        or _breakpoints_problem(body)
    )


def _tools_problem(body: JSON) -> str | None:
    tools = body.get("tools") or []
    names = set()
    for i, tool in enumerate(tools):
        name = tool.get("name", "")
        if not _TOOL_NAME.match(name):
            return f"tools.{i}.name: String should match pattern '{_TOOL_NAME.pattern}'"
        if name in names:
            return "tools: Tool names must be unique."
        names.add(name)
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return f"tools.{i}.input_schema.type: Input should be 'object'"
    choice = body.get("tool_choice")
    if choice is not None and choice.get("type") == "tool" and choice.get("name") not in names:
        return f"tool_choice.name: Tool '{choice.get('name')}' not found in tools"
    if choice is not None and choice.get("type") in ("tool", "any") and not names:
        return "tool_choice may only be specified while providing tools."
    return None


def _system_problem(system: Any) -> str | None:
    if system is None or isinstance(system, str):
        return None
    for i, block in enumerate(system):
        if block.get("type") != "text":
            return f"system.{i}.type: Input should be 'text'"
        if not block.get("text"):
            return f"system.{i}: text content blocks must be non-empty"
    return None


def _messages_problem(messages: list[Any]) -> str | None:
    previous_tool_uses: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not content:
            return f"messages.{i}: all messages must have non-empty content"
        results: set[str] = set()
        tool_uses: set[str] = set()
        for j, block in enumerate(content):
            kind = block.get("type")
            if kind == "text" and not block.get("text"):
                return f"messages.{i}.content.{j}.text: text content blocks must be non-empty"
            if kind == "tool_use":
                if role != "assistant":
                    return f"messages.{i}.content.{j}: tool_use is only allowed in assistant turns"
                tool_uses.add(str(block.get("id")))
            if kind == "tool_result":
                if role != "user":
                    return f"messages.{i}.content.{j}: tool_result is only allowed in user turns"
                if block.get("tool_use_id") not in previous_tool_uses:
                    return (
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                        "`tool_result` blocks. Each `tool_result` block must have a "
                        "corresponding `tool_use` block in the previous message."
                    )
                results.add(str(block.get("tool_use_id")))
        missing = previous_tool_uses - results
        if missing:
            return (
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
                f"after: {', '.join(sorted(missing))}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )
        previous_tool_uses = tool_uses
    return None


def _breakpoints_problem(body: JSON) -> str | None:
    count = sum("cache_control" in t for t in body.get("tools") or [])
    system = body.get("system")
    if isinstance(system, list):
        count += sum("cache_control" in b for b in system)
    for message in body["messages"]:
        if isinstance(message.get("content"), list):
            count += sum("cache_control" in b for b in message["content"])
    if count > MAX_CACHE_BREAKPOINTS:
        return (
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {count}."
        )
    return None
