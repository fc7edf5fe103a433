"""Token estimates, prompt-cache emulation and rate-limit windows of the fake.

The numbers are estimates (about four characters a token), but the *rules* follow the
API's, because they are what a pipeline's cost and speed depend on and what a test
of the provider should catch going wrong:

- a request is a sequence of blocks in the order the API hashes it: tools, then system,
  then messages; a cache entry is the prefix ending at a block, and only blocks marked
  ``cache_control`` (at most four, see ``_validate``) are *written*;
- a lookup walks back from each mark over up to ``LOOKBACK_BLOCKS`` block boundaries
  and reads the longest prefix that an earlier request wrote (so a request can extend
  what another request with fewer blocks cached); what lies between that hit and the
  last mark is written, the rest is ordinary input;
- changing the tools invalidates everything; changing ``tool_choice`` invalidates only
  prefixes that end in the messages (their key includes the tool choice);
- a prefix shorter than the model's minimum is not written (``min_cacheable_tokens``);
- an entry is usable only once the response that wrote it has started, so calls fired
  in parallel before the first one answers all pay for a cache write;
- reads refresh the entry's five-minute lifetime.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ._wire import Usage, error_body

JSON = dict[str, Any]
LOOKBACK_BLOCKS = 20
"""Block boundaries a mark checks for an earlier entry, its own included."""


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _block_text(block: Any) -> str:
    if isinstance(block, str):
        return block
    if not isinstance(block, dict):
        return json.dumps(block)
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "tool_use":
        return json.dumps(block.get("input", {}))
    if kind == "tool_result":
        content = block.get("content", "")
        if isinstance(content, list):
            return "".join(_block_text(b) for b in content)
        return str(content)
    return json.dumps({k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True)


@dataclass(frozen=True)
class _Segment:
    text: str
    breakpoint: bool
    in_messages: bool


def _segments(body: JSON) -> list[_Segment]:
    out: list[_Segment] = []
    for tool in body.get("tools") or []:
        text = json.dumps({k: v for k, v in tool.items() if k != "cache_control"}, sort_keys=True)
        out.append(_Segment(text, "cache_control" in tool, False))
    system = body.get("system")
    if isinstance(system, str):
        out.append(_Segment(system, False, False))
    elif isinstance(system, list):
        out.extend(_Segment(_block_text(b), "cache_control" in b, False) for b in system)
    for message in body.get("messages") or []:
        content = message.get("content")
        role = str(message.get("role"))
        if isinstance(content, str):
            out.append(_Segment(role + content, False, True))
            continue
        for block in content or []:
            marked = isinstance(block, dict) and "cache_control" in block
            out.append(_Segment(role + _block_text(block), marked, True))
    return out


@dataclass(frozen=True)
class PromptSplit:
    """A request's input as the cache sees it, block by block."""

    keys: tuple[str, ...]
    """``keys[i]`` identifies the prefix ending at block ``i``."""
    ends: tuple[int, ...]
    """``ends[i]``: the tokens of the prefix ending at block ``i``."""
    marks: tuple[int, ...]
    """The blocks marked ``cache_control``, in order."""

    @property
    def total_tokens(self) -> int:
        return self.ends[-1] if self.ends else 0


def split_prompt(body: JSON) -> PromptSplit:
    segments = _segments(body)
    digest = hashlib.sha256(str(body.get("model")).encode())
    choice = json.dumps(body.get("tool_choice"), sort_keys=True).encode()
    keys: list[str] = []
    ends: list[int] = []
    for segment in segments:
        digest.update(b"\x00" + segment.text.encode())
        key = digest.copy()
        if segment.in_messages:
            key.update(b"\x01" + choice)
        keys.append(key.hexdigest())
        ends.append((ends[-1] if ends else 0) + estimate_tokens(segment.text))
    marks = tuple(i for i, s in enumerate(segments) if s.breakpoint)
    return PromptSplit(tuple(keys), tuple(ends), marks)


class PromptCache:
    """Which prefixes are cached, and until when."""

    def __init__(
        self,
        *,
        ttl_s: float = 300.0,
        min_tokens: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._min_tokens = min_tokens
        self._clock = clock
        self._expiry: dict[str, float] = {}

    def _live(self, key: str, now: float) -> bool:
        return self._expiry.get(key, -math.inf) > now

    def _hit(self, split: PromptSplit, now: float) -> int | None:
        """The last block of the longest live prefix a mark's lookback reaches."""
        hits = [
            i
            for mark in split.marks
            for i in range(mark, max(-1, mark - LOOKBACK_BLOCKS), -1)
            if self._live(split.keys[i], now)
        ]
        return max(hits, default=None)

    def usage_for(self, split: PromptSplit, output_tokens: int) -> Usage:
        """The usage the API would report: the longest cached prefix is read (and its entry
        refreshed), the rest up to the last mark written if long enough, the rest is input."""
        now = self._clock()
        hit = self._hit(split, now)
        read = 0
        if hit is not None:
            self._expiry[split.keys[hit]] = now + self._ttl_s
            read = split.ends[hit]
        written = 0
        if split.marks and split.ends[split.marks[-1]] >= self._min_tokens:
            written = max(0, split.ends[split.marks[-1]] - read)
        return Usage(
            split.total_tokens - read - written,
            output_tokens,
            cache_creation_input_tokens=written,
            cache_read_input_tokens=read,
        )

    def store(self, split: PromptSplit) -> None:
        """Make the marked prefixes readable: called when the writing response starts."""
        for mark in split.marks:
            if split.ends[mark] >= self._min_tokens:
                self._expiry[split.keys[mark]] = self._clock() + self._ttl_s

    def cached(self, split: PromptSplit) -> list[int]:
        """The blocks at which a live entry ends (for tests)."""
        now = self._clock()
        return [i for i, key in enumerate(split.keys) if self._live(key, now)]


@dataclass(frozen=True)
class RateLimits:
    """Per-window limits the fake reports (and, with ``enforce``, applies), and an optional
    cap on concurrent requests (applied whenever set).

    Enforced as the API does: a request is refused (429 with ``retry-after``) when the
    requests or input tokens left in the window cannot cover it, or when the output tokens
    left cannot cover its ``max_tokens`` (the API counts a request's output as its
    ``max_tokens`` when it starts and corrects it to the real count when it ends).
    ``max_in_flight`` stands for a gateway's or a provider's concurrency cap: past that many
    requests at once, the next is refused with ``retry-after: 1``, and no header warns of it.
    """

    requests: int = 4_000
    input_tokens: int = 2_000_000
    output_tokens: int = 400_000
    window_s: float = 60.0
    enforce: bool = False
    max_in_flight: int | None = None


@dataclass(frozen=True)
class Refusal:
    """A 429 as the API sends it: the body, and the ``retry-after`` header."""

    body: JSON
    headers: dict[str, str]


class RateWindow:
    """A fixed window per limit: simpler than the API's token bucket, but the headers
    carry the same names and meanings (limit, remaining, RFC 3339 reset)."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self._clock = clock
        self._start = clock()
        self._used = {"requests": 0, "input-tokens": 0, "output-tokens": 0}
        self._held: dict[int, tuple[float, int]] = {}
        """Request -> (its window's start, output tokens counted beyond its real output)."""
        self.refused: dict[str, int] = {}
        """429s sent, by the limit that was reached."""

    def _roll(self) -> None:
        now = self._clock()
        if now >= self._start + self.limits.window_s:
            self._start = now
            self._used = dict.fromkeys(self._used, 0)

    def _limit(self, name: str) -> int:
        return {
            "requests": self.limits.requests,
            "input-tokens": self.limits.input_tokens,
            "output-tokens": self.limits.output_tokens,
        }[name]

    def remaining(self, name: str) -> int:
        self._roll()
        return max(0, self._limit(name) - self._used[name])

    def seconds_to_reset(self) -> float:
        self._roll()
        return max(0.0, self._start + self.limits.window_s - self._clock())

    def exceeded_by(self, input_tokens: int, max_tokens: int = 1) -> str | None:
        """The limit a request with this input and ``max_tokens`` would break, if any is
        enforced."""
        if not self.limits.enforce:
            return None
        if self.remaining("requests") < 1:
            return "requests"
        if self.remaining("input-tokens") < input_tokens:
            return "input tokens"
        if self.remaining("output-tokens") < max_tokens:
            return "output tokens"
        return None

    def admit(
        self,
        request: int,
        *,
        input_tokens: int,
        max_tokens: int,
        output_tokens: int,
        in_flight: int,
    ) -> Refusal | None:
        """Count request number ``request`` in the window, or say why it is refused.

        ``in_flight`` includes this request. Its output is counted as ``max_tokens`` until
        :meth:`release`, which corrects it to ``output_tokens``.
        """
        cap = self.limits.max_in_flight
        if cap is not None and in_flight > cap:
            message = f"This request would exceed your limit of {cap} concurrent requests."
            return self._refuse("concurrent requests", message, 1)
        over = self.exceeded_by(input_tokens, max_tokens)
        if over is not None:
            message = (
                f"This request would exceed your organization's rate limit of {over} per minute."
            )
            return self._refuse(over, message, max(1, math.ceil(self.seconds_to_reset())))
        held = max(max_tokens, output_tokens)
        self.record(requests=1, input_tokens=input_tokens, output_tokens=held)
        self._held[request] = (self._start, held - output_tokens)
        return None

    def release(self, request: int) -> None:
        """The request ended: its output counts as what it really was (if in this window)."""
        start, excess = self._held.pop(request, (math.nan, 0))
        if start == self._start:
            self._used["output-tokens"] -= excess

    def _refuse(self, limit: str, message: str, retry_after: int) -> Refusal:
        self.refused[limit] = self.refused.get(limit, 0) + 1
        return Refusal(error_body("rate_limit_error", message), {"retry-after": str(retry_after)})

    def record(self, *, requests: int = 0, input_tokens: int = 0, output_tokens: int = 0) -> None:
        self._roll()
        self._used["requests"] += requests
        self._used["input-tokens"] += input_tokens
        self._used["output-tokens"] += output_tokens

    def headers(self) -> dict[str, str]:
        reset = datetime.fromtimestamp(self._start + self.limits.window_s, UTC)
        reset_text = reset.isoformat(timespec="seconds").replace("+00:00", "Z")
        out: dict[str, str] = {}
        for name in ("requests", "input-tokens", "output-tokens"):
            out[f"anthropic-ratelimit-{name}-limit"] = str(self._limit(name))
            out[f"anthropic-ratelimit-{name}-remaining"] = str(self.remaining(name))
            out[f"anthropic-ratelimit-{name}-reset"] = reset_text
        # "tokens" reports whichever token limit is closest to running out.
        tightest = min(("input-tokens", "output-tokens"), key=self.remaining)
        out["anthropic-ratelimit-tokens-limit"] = str(self._limit(tightest))
        out["anthropic-ratelimit-tokens-remaining"] = str(self.remaining(tightest))
        out["anthropic-ratelimit-tokens-reset"] = reset_text
        return out
