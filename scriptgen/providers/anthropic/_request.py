"""What a step becomes on the wire, and how the answer is read back.

Every call of an episode is laid out so that as much of it as possible is one cached prefix.
The API hashes a request as tools, then system, then messages; a cache entry ends at a block
marked ``cache_control`` and is read by any later request that repeats it byte for byte::

    tools        the episode's tools (StepRequest.tools), all of them, same order every call
    system       system prompt | series bible | previously | premise | outline (once there
                 is one)
                 each block marked: every one ends a prefix that some other call repeats
    messages     user: the step's own prompt
    tool_choice  forces the step's own tool (part of the key of message blocks only)

The marks, from the widest prefix to the narrowest: tools + system prompt (every episode),
+ bible (every episode and note of the room), + previously (this episode's continuity),
+ premise (what the outline call writes and the scene
calls extend), + outline (what every scene, comedy and refinement call reads). The API looks
back only for entries that earlier requests *wrote*, and writes only at marks, so each prefix
worth reading must have been marked by some earlier call. At most four marks are allowed; the
narrowest ones are kept.
"""

from __future__ import annotations

import functools
import json
import re

from anthropic.types import (
    Message,
    MessageParam,
    TextBlock,
    TextBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlock,
    ToolUseBlockParam,
)
from pydantic import BaseModel, ValidationError

from scriptgen.models import CallUsage
from scriptgen.providers.base import OutputT, StepRequest, ToolSpec

MAX_CACHE_MARKS = 4
"""The API refuses a request with more ``cache_control`` blocks than this."""


@functools.cache
def _schema(output: type[BaseModel]) -> dict[str, object]:
    return output.model_json_schema()


def _tool_param(spec: ToolSpec) -> ToolParam:
    return {
        "name": spec.name,
        "description": spec.description,
        "input_schema": _schema(spec.output),
    }


def own_tool(step: StepRequest[OutputT]) -> ToolSpec:
    """The tool this step makes the model call (named after the output type if unnamed)."""
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", step.output.__name__).lower()
    doc = (step.output.__doc__ or "").strip().split("\n\n")[0]
    description = step.tool_description or " ".join(
        [f"Submit the {snake.replace('_', ' ')} for this step.", *doc.split()]
    )
    return ToolSpec(step.tool_name or f"submit_{snake}", description, step.output)


def tools(step: StepRequest[OutputT]) -> tuple[list[ToolParam], str]:
    """The tools to declare (the episode's list, else the step's own) and the one to force."""
    specs, name = _declared(step)
    return [_tool_param(spec) for spec in specs], name


def tools_json(step: StepRequest[OutputT]) -> tuple[str, str]:
    """:func:`tools` as the JSON sent, dumped once per distinct list (an episode's steps all
    declare the same one), and the tool to force."""
    specs, name = _declared(step)
    return _dumped_tools(specs), name


@functools.lru_cache(maxsize=64)
def _dumped_tools(specs: tuple[ToolSpec, ...]) -> str:
    return json.dumps([_tool_param(spec) for spec in specs], separators=(",", ":"))


def _declared(step: StepRequest[OutputT]) -> tuple[tuple[ToolSpec, ...], str]:
    own = own_tool(step)
    if not step.tools:
        return (own,), own.name
    declared = [spec for spec in step.tools if spec.name == own.name]
    if not declared or declared[0].output is not step.output:
        raise ValueError(
            f"{step.key}: the step's tool {own.name} ({step.output.__name__}) must be one of "
            f"the tools it declares: {', '.join(s.name for s in step.tools)}"
        )
    return tuple(step.tools), own.name


def system_blocks(step: StepRequest[OutputT]) -> list[TextBlockParam]:
    """The system prompt, then the shared context, each block ending a cached prefix."""
    texts = [text for text in (step.system, *step.shared_context) if text.strip()]
    blocks: list[TextBlockParam] = [{"type": "text", "text": text} for text in texts]
    for block in blocks[-MAX_CACHE_MARKS:]:
        block["cache_control"] = {"type": "ephemeral"}
    return blocks


def first_turn(step: StepRequest[OutputT]) -> list[MessageParam]:
    return [{"role": "user", "content": [{"type": "text", "text": step.prompt}]}]


def add_usage(usage: CallUsage, message: Message) -> None:
    usage.input_tokens += message.usage.input_tokens
    usage.output_tokens += message.usage.output_tokens
    usage.cache_write_tokens += message.usage.cache_creation_input_tokens or 0
    usage.cache_read_tokens += message.usage.cache_read_input_tokens or 0


def validate(
    step: StepRequest[OutputT], message: Message, tool_name: str
) -> tuple[OutputT | None, list[str]]:
    """The validated output, or the problems to report back (short, one per line): the
    schema's, then the step's own rules (``StepRequest.check``)."""
    calls = [b for b in message.content if isinstance(b, ToolUseBlock) and b.name == tool_name]
    call = calls[0] if calls else None
    if call is None:
        return None, [f"the answer did not call the tool {tool_name}"]
    if message.stop_reason == "max_tokens":
        return None, [
            f"the answer was cut off at the max_tokens limit ({step.max_tokens}) "
            "before the tool input was complete; make it shorter"
        ]
    try:
        value = step.output.model_validate(call.input)
    except ValidationError as err:
        return None, [
            f"{'.'.join(str(p) for p in e['loc']) or '(input)'}: {e['msg']}"
            for e in err.errors(include_url=False)
        ]
    if step.check is not None:
        try:
            step.check(value)
        except ValueError as err:
            return None, [str(err).strip() or f"the input broke a rule of {tool_name}"]
    return value, []


def repair_turns(message: Message, tool_name: str, problems: list[str]) -> list[MessageParam]:
    """The rejected answer and a turn saying why, so the model corrects itself in context."""
    listed = "\n".join(f"- {p}" for p in problems[:10])
    if len(problems) > 10:
        listed += f"\n- ... and {len(problems) - 10} more"
    feedback = (
        f"The input to {tool_name} was rejected:\n{listed}\n"
        f"Call {tool_name} again with the complete, corrected input."
    )
    echoed: list[TextBlockParam | ToolUseBlockParam] = []
    results: list[TextBlockParam | ToolResultBlockParam] = []
    for block in message.content:
        if isinstance(block, TextBlock) and block.text.strip():
            echoed.append({"type": "text", "text": block.text})
        elif isinstance(block, ToolUseBlock):
            echoed.append(
                {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
            )
            results.append(
                {
                    "type": "tool_result",
                    "tool_use_id": block.id,
                    "is_error": True,
                    "content": feedback if not results else "Ignored.",
                }
            )
    if not results:
        results.append({"type": "text", "text": feedback})
    turns: list[MessageParam] = []
    if echoed:  # an empty assistant turn is refused; consecutive user turns are merged
        turns.append({"role": "assistant", "content": echoed})
    turns.append({"role": "user", "content": results})
    return turns
