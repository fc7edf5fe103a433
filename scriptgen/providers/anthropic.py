"""Claude as a scriptgen provider: one forced-tool call per step, streamed, with our own retries.

- **Structured output by a forced tool.** The step's pydantic model is the tool's
  ``input_schema`` and ``tool_choice`` forces the call, so the answer is JSON by
  construction; pydantic then checks what a schema cannot (and the model may miss),
  and a failure is sent back once, in the same conversation, as a ``tool_result``
  with ``is_error``, which is how the model is trained to see a rejected call.
- **One retry layer, ours.** The SDK's retries are switched off (``max_retries=0``):
  they honour ``retry-after`` without a cap, never cover a stream that fails
  mid-way (an SSE ``error`` event, a dropped connection), and are invisible to our
  usage accounting and to a process-wide limiter. Here every failure is classified
  once, retried with capped back-off when it can succeed, and counted.
- **Always streamed.** The SDK refuses non-streaming calls whose ``max_tokens`` could
  take over ten minutes, and proxies drop long-idle responses; one code path serves
  every size.
- **Prompt caching.** Every call of an episode repeats the system prompt and the
  shared context (series bible, outline) first, and marks the end of that prefix with
  ``cache_control``, so later calls read it at a tenth of the price. The API's cached
  prefix also covers the tool definitions (and, for a mark in the messages, the tool
  choice), so what is shared is the prefix of calls with the same output type: all the
  scene dialogues of an episode, all its stage directions.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx2
from anthropic import APIConnectionError, APIStatusError, APITimeoutError, AsyncAnthropic, omit
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

from scriptgen.errors import InvalidOutputError, ProviderError
from scriptgen.models import CallUsage
from scriptgen.providers.base import Generation, OutputT, StepRequest

DEFAULT_MODEL = "claude-sonnet-4-5"
MAX_SERVER_DELAY_S = 60.0
"""A server's ``retry-after`` is honoured up to this; beyond it a retry is still only an
attempt, and the caller should not hang for minutes on one call."""

SPEND_LIMIT_CODES = frozenset({"enforced_spend_limit_reached", "contract_spend_limit_reached"})
"""``error.details.error_code`` of a 429 that no retry can cure (SDK 2.x maps them to
``EnforcedSpendLimitReachedError``/``ContractSpendLimitReachedError``)."""

_SPEND_WORDS = re.compile(r"spend limit|usage limits|credit balance", re.IGNORECASE)
_STREAM_ERROR_STATUS = dict(
    overloaded_error=529, api_error=500, rate_limit_error=429, timeout_error=504
)
"""What an SSE ``error`` event's type would have been as an HTTP status (the SDK reports 200)."""


# -- back-off ---------------------------------------------------------------------------------


class Backoff(Protocol):
    """How long to wait before a retry; injectable so tests never sleep."""

    async def wait(self, retry: int, server_delay: float | None) -> None:
        """Wait before retry number ``retry`` (1 for the first). ``server_delay`` is what
        the server asked for (``retry-after-ms``/``retry-after``, uncapped), if anything."""
        ...


class ExponentialBackoff:
    """The server's delay when it gives one (capped), else full-jitter exponential
    back-off: a uniform wait in ``[0, min(max_s, base_s * 2**(retry-1))]``, which spreads
    parallel scene calls apart instead of retrying them in lockstep."""

    def __init__(
        self,
        *,
        base_s: float = 1.0,
        max_s: float = 30.0,
        max_server_delay_s: float = MAX_SERVER_DELAY_S,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_s, self.max_s, self.max_server_delay_s = base_s, max_s, max_server_delay_s
        self._rng = rng or random.Random()
        self._sleep = sleep

    def delay(self, retry: int, server_delay: float | None) -> float:
        if server_delay is not None:
            return min(max(server_delay, 0.0), self.max_server_delay_s)
        return self._rng.uniform(0.0, min(self.max_s, self.base_s * 2.0 ** (retry - 1)))

    async def wait(self, retry: int, server_delay: float | None) -> None:
        await self._sleep(self.delay(retry, server_delay))


def server_delay(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked to wait: ``retry-after-ms``, else ``retry-after`` as
    seconds or as an HTTP date."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.0, float(headers[name]) * scale)
        except (KeyError, ValueError):
            pass
    when = email.utils.parsedate_tz(headers.get("retry-after", ""))
    return None if when is None else max(0.0, email.utils.mktime_tz(when) - time.time())


# -- rate-limit headers -------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimitWindow:
    limit: int | None
    remaining: int | None
    reset: datetime | None


@dataclass(frozen=True)
class RateLimitSnapshot:
    """The latest ``anthropic-ratelimit-*`` headers: what a limiter needs to pace calls
    to the account's real limits instead of hard-coded tier numbers."""

    requests: RateLimitWindow
    tokens: RateLimitWindow
    input_tokens: RateLimitWindow
    output_tokens: RateLimitWindow
    observed_at: float
    """``time.monotonic()`` when the headers arrived."""

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitSnapshot | None:
        def window(kind: str) -> RateLimitWindow:
            def get(field: str) -> str | None:
                return headers.get(f"anthropic-ratelimit-{kind}-{field}")

            limit, remaining, reset = get("limit"), get("remaining"), get("reset")
            return RateLimitWindow(
                limit=int(limit) if limit and limit.isdigit() else None,
                remaining=int(remaining) if remaining and remaining.isdigit() else None,
                reset=_parse_time(reset),
            )

        if not any(k.lower().startswith("anthropic-ratelimit-") for k in headers):
            return None
        return cls(
            window("requests"),
            window("tokens"),
            window("input-tokens"),
            window("output-tokens"),
            time.monotonic(),
        )


def _parse_time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


# -- failures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Failure:
    summary: str
    advice: str
    retryable: bool
    status: int | None = None
    detail: str | None = None
    server_delay: float | None = None

    def message(self, attempts: int) -> str:
        text = self.summary
        if self.retryable and attempts > 1:
            text += f" and still was after {attempts} attempts"
        text += f": {self.advice}"
        if self.detail:
            text += f" (Anthropic said: {self.detail[:300]})"
        return text


def _status_failure(err: APIStatusError, model: str) -> _Failure:
    status, detail = err.status_code, err.api_message or None
    if status == 200:  # an SSE error event: the HTTP status was fine, the stream was not
        kind = err.type or "unknown error"
        return _Failure(
            f"the response stream was cut off mid-way by an error event ({kind})",
            "try again in a few minutes",
            kind in _STREAM_ERROR_STATUS,
            _STREAM_ERROR_STATUS.get(kind),
            detail,
        )
    headers = err.response.headers
    spent = status in (400, 402, 429) and _SPEND_WORDS.search(detail or "") is not None
    if err.error_code in SPEND_LIMIT_CODES or spent:
        return _Failure(
            f"Anthropic's spend limit for this organization is reached ({status})",
            "retrying will not help until the limit is raised or resets: check the "
            "limits and billing in the Anthropic console",
            False,
            status,
            detail,
        )
    summary, advice = _STATUS_TEXT.get(status) or (
        (f"Anthropic is failing with a server error ({status})", "try again in a few minutes")
        if status >= 500
        else (f"Anthropic returned an unexpected error ({status})", "see the details that follow")
    )
    retryable = status in (408, 409, 429) or 500 <= status <= 599
    should_retry = headers.get("x-should-retry")
    if should_retry in ("true", "false"):
        if retryable and should_retry == "false":
            summary += " (Anthropic asked not to retry)"
        retryable = should_retry == "true"
    return _Failure(
        summary, advice.format(model=model), retryable, status, detail, server_delay(headers)
    )


_STATUS_TEXT: dict[int, tuple[str, str]] = {
    400: ("Anthropic rejected the request (400)", "this is a bug in the request; see the details"),
    401: ("Anthropic rejected the API key (401)", "check ANTHROPIC_API_KEY"),
    402: (
        "Anthropic refused the request for billing reasons (402)",
        "check the plan and credit balance in the Anthropic console",
    ),
    403: ("Anthropic refused access (403)", "check that the API key may use {model}"),
    404: (
        "Anthropic found no such model or endpoint (404)",
        "check the model name ({model}) and ANTHROPIC_BASE_URL",
    ),
    408: ("Anthropic is timing out (408)", "try again"),
    409: ("Anthropic is reporting a conflict (409)", "try again"),
    413: ("The request is too large for Anthropic (413)", "shorten the series bible or premise"),
    429: (
        "Anthropic is rate-limiting this API key (429)",
        "run fewer calls in parallel, or wait a minute",
    ),
    504: ("Anthropic is timing out (504)", "try again in a few minutes"),
    529: ("Anthropic is overloaded (529)", "try again in a few minutes"),
}


def _connection_failure(err: APIConnectionError) -> _Failure:
    if isinstance(err, APITimeoutError):
        return _Failure("Anthropic is timing out", "check the network, or try again", True)
    why = type(err.__cause__).__name__ if err.__cause__ else "connection error"
    return _Failure(
        f"Anthropic is unreachable ({why})", "check the network and ANTHROPIC_BASE_URL", True
    )


def _cut_off(why: str) -> _Failure:
    return _Failure(
        f"the response stream was cut off mid-way ({why})",
        "check the network connection, or try again",
        True,
    )


# -- the provider -----------------------------------------------------------------------------


class AnthropicProvider:
    """The :class:`~scriptgen.providers.base.Provider` for Claude, on an injected client.

    ``rate_limits`` holds the latest rate-limit headers seen (None before any).
    """

    def __init__(
        self,
        client: AsyncAnthropic,
        model: str = DEFAULT_MODEL,
        *,
        max_attempts: int = 4,
        backoff: Backoff | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._client = client.with_options(max_retries=0)
        self._model = model
        self._max_attempts = max_attempts
        self._backoff: Backoff = backoff or ExponentialBackoff()
        self._secrets = [s for s in (client.api_key, client.auth_token) if s]
        self.rate_limits: RateLimitSnapshot | None = None

    @property
    def name(self) -> str:
        return "anthropic"

    @property
    def model(self) -> str:
        return self._model

    async def generate(self, step: StepRequest[OutputT]) -> Generation[OutputT]:
        """Call, validate, and on an invalid answer ask once more in the same conversation
        (the model sees its own answer and the errors, which fixes most slips cheaply)."""
        started = time.monotonic()
        usage = CallUsage(step=step.key, model=self._model)
        tool = _tool(step)
        system, user = _prompt(step)
        messages: list[MessageParam] = [{"role": "user", "content": user}]
        message = await self._call(step, tool, system, messages, usage)
        value, problems = _validate(step, message, tool["name"])
        if value is None:
            messages.extend(_repair_turns(message, tool["name"], problems))
            message = await self._call(step, tool, system, messages, usage)
            value, problems = _validate(step, message, tool["name"])
        if value is None:
            raise InvalidOutputError(
                f"{step.key}: the model's answer did not fit {step.output.__name__}, even when "
                f"asked again: {'; '.join(problems[:3])}"
            )
        usage.latency_s = time.monotonic() - started
        return Generation(value=value, usage=usage)

    async def _call(
        self,
        step: StepRequest[OutputT],
        tool: ToolParam,
        system: list[TextBlockParam],
        messages: list[MessageParam],
        usage: CallUsage,
    ) -> Message:
        """One message, retried: returns only a complete answer, raises ProviderError."""
        for attempt in range(1, self._max_attempts + 1):
            cause: BaseException | None = None
            try:
                async with self._client.messages.stream(
                    model=self._model,
                    max_tokens=step.max_tokens,
                    system=system or omit,
                    messages=messages,
                    tools=[tool],
                    tool_choice={"type": "tool", "name": tool["name"]},
                ) as stream:
                    self._observe(stream.response.headers)
                    message: Message = await stream.get_final_message()
                if message.stop_reason is not None:
                    _add_usage(usage, message)
                    return message
                failure = _cut_off("it ended before the message was complete")
            except APIStatusError as err:
                self._observe(err.response.headers)
                failure, cause = _status_failure(err, self._model), err
            except APIConnectionError as err:  # incl. APITimeoutError
                failure, cause = _connection_failure(err), err
            except httpx2.TransportError as err:  # mid-stream: the SDK does not wrap these
                failure, cause = _cut_off(f"{type(err).__name__}: {err}"), err
            if not failure.retryable or attempt == self._max_attempts:
                raise self._error(failure, attempt, cause)
            usage.retries += 1
            await self._backoff.wait(attempt, failure.server_delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _observe(self, headers: Mapping[str, str]) -> None:
        snapshot = RateLimitSnapshot.from_headers(headers)
        if snapshot is not None:
            self.rate_limits = snapshot

    def _error(
        self, failure: _Failure, attempts: int, cause: BaseException | None
    ) -> ProviderError:
        raw = failure.message(attempts)
        message = raw
        for secret in self._secrets:
            message = message.replace(secret, "[redacted]")
        error = ProviderError(message, retryable=failure.retryable, status=failure.status)
        if message == raw:  # chain the SDK's error, unless the server echoed a secret into it
            error.__cause__ = cause
        return error


# -- the request and the answer -----------------------------------------------------------------


def _add_usage(usage: CallUsage, message: Message) -> None:
    usage.input_tokens += message.usage.input_tokens
    usage.output_tokens += message.usage.output_tokens
    usage.cache_write_tokens += message.usage.cache_creation_input_tokens or 0
    usage.cache_read_tokens += message.usage.cache_read_input_tokens or 0


@functools.cache
def _schema(output: type[BaseModel]) -> dict[str, object]:
    return output.model_json_schema()


def _tool(step: StepRequest[OutputT]) -> ToolParam:
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", step.output.__name__).lower()
    name = step.tool_name or f"submit_{snake}"
    doc = (step.output.__doc__ or "").strip().split("\n\n")[0]
    description = step.tool_description or " ".join(
        [f"Submit the {snake.replace('_', ' ')} for this step.", *doc.split()]
    )
    return {"name": name, "description": description, "input_schema": _schema(step.output)}


def _prompt(step: StepRequest[OutputT]) -> tuple[list[TextBlockParam], list[TextBlockParam]]:
    """System blocks and the user turn; the end of the shared prefix carries the cache mark."""
    system: list[TextBlockParam] = (
        [{"type": "text", "text": step.system}] if step.system.strip() else []
    )
    shared: list[TextBlockParam] = [
        {"type": "text", "text": text} for text in step.shared_context if text.strip()
    ]
    prefix_end = shared or system
    if prefix_end:
        prefix_end[-1]["cache_control"] = {"type": "ephemeral"}
    return system, [*shared, {"type": "text", "text": step.prompt}]


def _validate(
    step: StepRequest[OutputT], message: Message, tool_name: str
) -> tuple[OutputT | None, list[str]]:
    """The validated output, or the problems to report back (short, one per line)."""
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
        return step.output.model_validate(call.input), []
    except ValidationError as err:
        return None, [
            f"{'.'.join(str(p) for p in e['loc']) or '(input)'}: {e['msg']}"
            for e in err.errors(include_url=False)
        ]


def _repair_turns(message: Message, tool_name: str, problems: list[str]) -> list[MessageParam]:
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
