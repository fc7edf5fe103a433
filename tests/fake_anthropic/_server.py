"""The fake Messages API server: an aiohttp app on a loopback port.

The SDK's transport (``httpx2``) cannot be intercepted by respx or pytest-httpx, and
mocking SDK internals would test our assumptions about the SDK rather than the SDK;
so the tests run the real client against a real socket, and everything below is
about producing exactly the bytes the real API would send, including its failures.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import jiter
from aiohttp import web

from ._accounting import (
    PromptCache,
    PromptSplit,
    RateLimits,
    RateWindow,
    estimate_tokens,
    split_prompt,
)
from ._faults import FaultHook
from ._records import (
    JSON,
    Action,
    RecordedRequest,
    Responder,
    SchemaResponder,
    Scripted,
    StatusAnswer,
    StreamFault,
    TextAnswer,
    ToolAnswer,
    compile_match,
    forced_tool,
)
from ._validate import request_problem
from ._wire import ERROR_TYPES, Reply, Usage, error_body, new_id, sse

Match = str | Callable[[RecordedRequest], bool] | None
_PING_EVERY = 10
_JSON = {"content-type": "application/json"}  # exactly, as the API sends it (no charset)


class FakeAnthropic:
    """``async with FakeAnthropic() as fake:`` serves ``POST /v1/messages`` at ``fake.base_url``.

    Scripted replies (``enqueue_*``) are used first, in order, each by the first
    request it matches (``match``: a tool name or a predicate); otherwise
    ``responder`` makes the forced tool's input from the request. ``ttft`` (or
    ``ttft_by_tool[forced tool]``) and
    ``per_chunk`` (seconds) emulate model latency; ``chunk_chars`` is the size of a
    streamed delta; ``stream_s_by_tool[forced tool]`` instead spreads that tool's deltas
    evenly over so many seconds after the first token, whatever the answer's length.
    ``jitter`` (0 to 1) scales each request's latency by a factor drawn uniformly from
    ``1 ± jitter`` (seeded by ``seed``), as a model's time varies from call to call.
    ``min_cacheable_tokens`` is the model's minimum cacheable prefix (0 caches anything).
    ``api_key``, when set, is the only key accepted. ``faults`` (see ``_faults``) is asked
    about each request no scripted reply matched: it may fail or delay it (random faults for
    a soak, an outage).
    """

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        seed: int = 0,
        ttft: float = 0.0,
        ttft_by_tool: Mapping[str, float] | None = None,
        per_chunk: float = 0.0,
        stream_s_by_tool: Mapping[str, float] | None = None,
        jitter: float = 0.0,
        chunk_chars: int = 48,
        rate_limits: RateLimits | None = None,
        min_cacheable_tokens: int = 0,
        cache_ttl_s: float = 300.0,
        api_key: str | None = None,
        faults: FaultHook | None = None,
    ) -> None:
        self.responder: Responder = responder or SchemaResponder(seed)
        self.ttft = ttft
        self.ttft_by_tool = dict(ttft_by_tool or {})
        self.per_chunk = per_chunk
        self.stream_s_by_tool = dict(stream_s_by_tool or {})
        self.jitter = jitter
        self._rng = random.Random(seed)
        self._scale: dict[int, float] = {}
        self.chunk_chars = chunk_chars
        self.api_key = api_key
        self.faults = faults
        self.cache = PromptCache(ttl_s=cache_ttl_s, min_tokens=min_cacheable_tokens)
        self.rate_window = RateWindow(rate_limits or RateLimits())
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._script: list[Scripted] = []
        self._arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._handle)
        # Handler cancellation makes a client's disconnect visible at once (the request's
        # outcome becomes "client_closed") rather than at the next write.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeAnthropic:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- scripting ------------------------------------------------------------------------------

    def _enqueue(self, action: Action, match: Match) -> None:
        self._script.append(Scripted(action, compile_match(match)))

    def enqueue_tool_input(
        self,
        tool_input: JSON,
        *,
        usage: Mapping[str, int] | None = None,
        stop_reason: str | None = None,
        match: Match = None,
    ) -> None:
        """Answer with this tool input (valid or not); ``usage`` overrides counted fields."""
        self._enqueue(ToolAnswer(tool_input, usage, stop_reason), match)

    def enqueue_text(
        self,
        text: str,
        *,
        usage: Mapping[str, int] | None = None,
        stop_reason: str = "end_turn",
        match: Match = None,
    ) -> None:
        """Answer with prose and no tool call, as a model ignoring the tool would."""
        self._enqueue(TextAnswer(text, usage, stop_reason), match)

    def enqueue_status(
        self,
        status: int,
        *,
        error_type: str | None = None,
        message: str | None = None,
        error_code: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        retry_after: float | None = None,
        match: Match = None,
    ) -> None:
        """Fail the request with an HTTP error in the API's shape; ``body`` replaces the
        JSON body entirely, ``error_code`` goes to ``error.details.error_code``."""
        if body is None:
            kind = error_type or ERROR_TYPES.get(
                status, "api_error" if status >= 500 else "invalid_request_error"
            )
            body = error_body(kind, message, error_code=error_code)
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["retry-after"] = f"{retry_after:g}"
        self._enqueue(StatusAnswer(status, body, all_headers), match)

    def enqueue_stream_error(
        self,
        *,
        after_chunks: int = 2,
        error_type: str = "overloaded_error",
        message: str | None = None,
        tool_input: JSON | None = None,
        match: Match = None,
    ) -> None:
        """Start a 200 stream, then send an SSE ``error`` event after N content deltas."""
        self._enqueue(StreamFault(after_chunks, error_type, message, tool_input), match)

    def enqueue_drop(
        self,
        *,
        after_chunks: int = 2,
        tool_input: JSON | None = None,
        match: Match = None,
    ) -> None:
        """Start a 200 stream, then close the TCP connection after N content deltas,
        leaving the chunked body unfinished."""
        self._enqueue(StreamFault(after_chunks, None, None, tool_input), match)

    @property
    def pending(self) -> int:
        """Scripted replies not used yet."""
        return len(self._script)

    async def wait_for_request(self, count: int = 1) -> RecordedRequest:
        """Wait until ``count`` requests have arrived (wrap in ``asyncio.timeout``); return
        the ``count``-th."""
        while len(self.requests) < count:
            self._arrived.clear()
            await self._arrived.wait()
        return self.requests[count - 1]

    def requests_for(self, tool_name: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.tool_name == tool_name]

    def _take(self, record: RecordedRequest) -> Action | None:
        for i, item in enumerate(self._script):
            if item.match is None or item.match(record):
                return self._script.pop(i).action
        return None

    # -- serving --------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        record = RecordedRequest(
            index=len(self.requests),
            body=body if isinstance(body, dict) else {},
            headers={k.lower(): v for k, v in request.headers.items()},
            started=time.monotonic(),
        )
        self.requests.append(record)
        self._arrived.set()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(request, record, body)
        except asyncio.CancelledError:
            record.outcome = "client_closed"
            raise
        finally:
            self.in_flight -= 1
            self.rate_window.release(record.index)
            record.finished = time.monotonic()
            record.done.set()

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {"request-id": new_id("req"), **self.rate_window.headers(), **(extra or {})}

    def _error(
        self,
        record: RecordedRequest,
        status: int,
        body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        record.outcome, record.status = "error_status", status
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(
            status=status, body=text.encode(), headers=self._headers({**_JSON, **(headers or {})})
        )

    async def _answer(
        self, request: web.Request, record: RecordedRequest, body: Any
    ) -> web.StreamResponse:
        key = record.api_key
        if key is None or (self.api_key is not None and key != self.api_key):
            return self._error(record, 401, error_body("authentication_error"))
        problem = request_problem(body)
        if problem is not None:
            return self._error(record, 400, error_body("invalid_request_error", problem))
        action = self._take(record)
        if action is None and self.faults is not None:
            action = await self.faults(record)
        if isinstance(action, StatusAnswer):
            return self._error(record, action.status, action.body, action.headers)
        reply, split = self._reply(body, action)
        refusal = self.rate_window.admit(
            record.index,
            input_tokens=reply.usage.input_tokens + reply.usage.cache_creation_input_tokens,
            max_tokens=body["max_tokens"],
            output_tokens=reply.usage.output_tokens,
            in_flight=self.in_flight,
        )
        if refusal is not None:
            return self._error(record, 429, refusal.body, refusal.headers)
        fault = action if isinstance(action, StreamFault) else None
        if body.get("stream"):
            return await self._stream(request, record, reply, fault, split)
        chunks = max(1, -(-len(reply.payload) // self.chunk_chars))
        await asyncio.sleep(self._ttft(record) + self.per_chunk * chunks)
        self.cache.store(split)
        if fault is not None:
            status = 529 if fault.error_type == "overloaded_error" else 500
            return self._error(record, status, error_body(fault.error_type or "api_error"))
        parsed = None
        if reply.kind == "tool_use":
            parsed = jiter.from_json(reply.payload.encode(), partial_mode=True)
        record.outcome = "ok"
        answer = reply.message_json(new_id("msg"), parsed)
        return web.Response(body=json.dumps(answer).encode(), headers=self._headers(_JSON))

    def _reply(self, body: JSON, action: Action | None) -> tuple[Reply, PromptSplit]:
        """The answer to give, with the usage the API would report for it."""
        tool = forced_tool(body)
        usage_override: Mapping[str, int] = {}
        stop_reason: str | None = None
        if isinstance(action, TextAnswer) or tool is None:
            kind, tool = "text", tool or ""
            payload = action.text if isinstance(action, TextAnswer) else "Sure."
            if isinstance(action, TextAnswer):
                usage_override, stop_reason = action.usage or {}, action.stop_reason
        else:
            kind = "tool_use"
            given = action.input if isinstance(action, ToolAnswer | StreamFault) else None
            payload = json.dumps(given if given is not None else self.responder(body))
            if isinstance(action, ToolAnswer):
                usage_override, stop_reason = action.usage or {}, action.stop_reason
        output_tokens = max(1, estimate_tokens(payload))
        if output_tokens > body["max_tokens"]:
            payload = payload[: body["max_tokens"] * 4]
            output_tokens, stop_reason = body["max_tokens"], stop_reason or "max_tokens"
        split = split_prompt(body)
        usage = self.cache.usage_for(split, output_tokens)
        fields = {**dataclasses.asdict(usage), **usage_override}
        return Reply(
            kind=kind,
            payload=payload,
            tool_name=tool,
            stop_reason=stop_reason or ("tool_use" if kind == "tool_use" else "end_turn"),
            usage=Usage(**fields),
            model=str(body["model"]),
        ), split

    def _ttft(self, record: RecordedRequest) -> float:
        return self.ttft_by_tool.get(record.tool_name or "", self.ttft) * self._jittered(record)

    def _per_chunk(self, record: RecordedRequest, reply: Reply) -> float:
        seconds = self.stream_s_by_tool.get(record.tool_name or "")
        if seconds is None:
            return self.per_chunk * self._jittered(record)
        chunks = max(1, -(-len(reply.payload) // self.chunk_chars))
        return seconds * self._jittered(record) / chunks

    def _jittered(self, record: RecordedRequest) -> float:
        """This request's latency factor (1 without jitter), drawn once."""
        if not self.jitter:
            return 1.0
        if record.index not in self._scale:
            self._scale[record.index] = self._rng.uniform(1 - self.jitter, 1 + self.jitter)
        return self._scale[record.index]

    async def _stream(
        self,
        request: web.Request,
        record: RecordedRequest,
        reply: Reply,
        fault: StreamFault | None,
        split: PromptSplit,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers=self._headers({"cache-control": "no-cache"}))
        response.content_type = "text/event-stream"
        try:
            await response.prepare(request)
            opening = reply.opening(new_id("msg"))
            await response.write(sse(*opening[0]))
            self.cache.store(split)  # the cache entry exists once the answer has started
            if ttft := self._ttft(record):
                await asyncio.sleep(ttft)
            for event in opening[1:]:
                await response.write(sse(*event))
            record.payload = reply.payload
            per_chunk = self._per_chunk(record, reply)
            for n, event in enumerate(reply.deltas(self.chunk_chars)):
                if fault is not None and n == fault.after_chunks:
                    return await self._fail(request, record, response, fault)
                if per_chunk:
                    await asyncio.sleep(per_chunk)
                await response.write(sse(*event))
                sent = min(len(reply.payload), (n + 1) * self.chunk_chars)
                record.written.append((time.monotonic(), sent))
                if n % _PING_EVERY == _PING_EVERY - 1:
                    await response.write(sse("ping", {"type": "ping"}))
            if fault is not None:
                return await self._fail(request, record, response, fault)
            self.rate_window.release(record.index)  # its real output, as it ends
            for event in reply.closing():
                await response.write(sse(*event))
            await response.write_eof()
        except ConnectionError:
            record.outcome = "client_closed"
            return response
        record.outcome = "ok"
        return response

    async def _fail(
        self,
        request: web.Request,
        record: RecordedRequest,
        response: web.StreamResponse,
        fault: StreamFault,
    ) -> web.StreamResponse:
        if fault.error_type is None:
            record.outcome = "dropped"
            if request.transport is not None:
                request.transport.close()
            return response
        record.outcome = "stream_error"
        await response.write(sse("error", error_body(fault.error_type, fault.message)))
        await response.write_eof()
        return response
