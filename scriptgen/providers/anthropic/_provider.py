"""The provider: one streamed, forced-tool call per step, validated, retried by us."""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager, nullcontext

import httpx2
from anthropic import APIConnectionError, APIStatusError, AsyncAnthropic
from anthropic.types import Message, MessageParam

from scriptgen.errors import InvalidOutputError, ProviderError
from scriptgen.models import CallUsage
from scriptgen.providers.base import Generation, OutputT, StepRequest
from scriptgen.ratelimits import RateLimitSnapshot, current_feedback

from . import _request
from ._retry import (
    Backoff,
    ExponentialBackoff,
    Failure,
    connection_failure,
    cut_off,
    status_failure,
)
from ._stream import Wire, open_stream, read_message

DEFAULT_MODEL = "claude-sonnet-5-5"


class AnthropicProvider:
    """The :class:`~scriptgen.providers.base.Provider` for Claude, on an injected client.

    ``rate_limits`` holds the latest rate-limit headers seen (None before any). Each attempt
    is reported to the call's :func:`~scriptgen.ratelimits.current_feedback` (the limiter
    slot it runs in): its status and headers, what a complete message used, and the wait
    before a retry, during which the slot serves other calls.
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
        tools, tool_name = _request.tools_json(step)
        system = _request.system_blocks(step)
        messages = _request.first_turn(step)
        call = Wire.of(self._model, step.max_tokens, tools, tool_name, system, step.on_partial)
        message = await self._call(call, messages, usage)
        value, problems = _request.validate(step, message, tool_name)
        if value is None:
            messages.extend(_request.repair_turns(message, tool_name, problems))
            message = await self._call(call, messages, usage)
            value, problems = _request.validate(step, message, tool_name)
        if value is None:
            raise InvalidOutputError(
                f"{step.key}: the model's answer did not fit {step.output.__name__}, even when "
                f"asked again: {'; '.join(problems[:3])}"
            )
        usage.latency_s = time.monotonic() - started
        return Generation(value=value, usage=usage)

    async def _call(self, call: Wire, messages: list[MessageParam], usage: CallUsage) -> Message:
        """One message, retried: returns only a complete answer, raises ProviderError."""
        feedback = current_feedback()
        for attempt in range(1, self._max_attempts + 1):
            cause: BaseException | None = None
            try:
                async with await open_stream(self._client, call, messages) as stream:
                    snapshot = self._observe(stream.response.headers)
                    if feedback is not None:
                        feedback.observe(stream.response.status_code, snapshot)
                    message = await read_message(stream, call.on_partial)
                if message.stop_reason is not None:
                    _request.add_usage(usage, message)
                    if feedback is not None:
                        counted = message.usage.cache_creation_input_tokens or 0
                        feedback.settle(
                            message.usage.input_tokens + counted, message.usage.output_tokens
                        )
                    return message
                failure = cut_off("it ended before the message was complete")
            except APIStatusError as err:
                failure, cause = status_failure(err, self._model), err
                # An SSE error event comes on the 200 response whose headers were reported.
                snapshot = None if err.status_code == 200 else self._observe(err.response.headers)
                if feedback is not None:
                    feedback.observe(failure.status if failure.retryable else None, snapshot)
            except APIConnectionError as err:  # incl. APITimeoutError
                failure, cause = connection_failure(err), err
            except httpx2.TransportError as err:  # mid-stream: the SDK does not wrap these
                failure, cause = cut_off(f"{type(err).__name__}: {err}"), err
            if not failure.retryable or attempt == self._max_attempts:
                raise self._error(failure, attempt, cause)
            usage.retries += 1
            lent: AbstractAsyncContextManager[None] = (
                feedback.paused() if feedback is not None else nullcontext()
            )
            async with lent:
                await self._backoff.wait(attempt, failure.server_delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _observe(self, headers: Mapping[str, str]) -> RateLimitSnapshot | None:
        snapshot = RateLimitSnapshot.from_headers(headers)
        if snapshot is not None:
            self.rate_limits = snapshot
        return snapshot

    def _error(self, failure: Failure, attempts: int, cause: BaseException | None) -> ProviderError:
        raw = failure.message(attempts)
        message = raw
        for secret in self._secrets:
            message = message.replace(secret, "[redacted]")
        error = ProviderError(message, retryable=failure.retryable, status=failure.status)
        if message == raw:  # chain the SDK's error, unless the server echoed a secret into it
            error.__cause__ = cause
        return error
