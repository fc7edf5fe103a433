"""Token estimates, prompt-cache emulation and rate-limit windows of the fake.

The numbers are estimates (about four characters a token), but the *rules* follow the
API's, because they are what a pipeline's cost and speed depend on and what a test
of the provider should catch going wrong:

- the cached prefix is everything up to and including the last ``cache_control``
  block, in the order the API hashes it: tools, then system, then messages;
- changing the tools invalidates everything; changing ``tool_choice`` invalidates the
  message part (so a breakpoint in the messages keys on the tool choice too);
- a prefix shorter than the model's minimum is not cached (``min_cacheable_tokens``);
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

from ._wire import Usage

JSON = dict[str, Any]


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
    """A request's input, split at its last cache breakpoint."""

    prefix_tokens: int
    rest_tokens: int
    key: str | None
    """Identifies the prefix; None when the request marks no breakpoint."""


def split_prompt(body: JSON) -> PromptSplit:
    segments = _segments(body)
    marks = [i for i, s in enumerate(segments) if s.breakpoint]
    total = sum(estimate_tokens(s.text) for s in segments)
    if not marks:
        return PromptSplit(0, total, None)
    prefix = segments[: marks[-1] + 1]
    digest = hashlib.sha256(str(body.get("model")).encode())
    for segment in prefix:
        digest.update(b"\x00" + segment.text.encode())
    if prefix[-1].in_messages:
        digest.update(json.dumps(body.get("tool_choice"), sort_keys=True).encode())
    prefix_tokens = sum(estimate_tokens(s.text) for s in prefix)
    return PromptSplit(prefix_tokens, total - prefix_tokens, digest.hexdigest())


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

    def usage_for(self, split: PromptSplit, output_tokens: int) -> Usage:
        """The usage the API would report: the prefix is a read on a live entry, a write
        otherwise (too-short prefixes are neither)."""
        if split.key is None or split.prefix_tokens < self._min_tokens:
            return Usage(split.prefix_tokens + split.rest_tokens, output_tokens)
        now = self._clock()
        if self._expiry.get(split.key, -math.inf) > now:
            self._expiry[split.key] = now + self._ttl_s
            return Usage(
                split.rest_tokens, output_tokens, cache_read_input_tokens=split.prefix_tokens
            )
        return Usage(
            split.rest_tokens, output_tokens, cache_creation_input_tokens=split.prefix_tokens
        )

    def store(self, split: PromptSplit) -> None:
        """Make the prefix readable: called when the writing response starts."""
        if split.key is not None and split.prefix_tokens >= self._min_tokens:
            self._expiry[split.key] = self._clock() + self._ttl_s


@dataclass(frozen=True)
class RateLimits:
    """Per-window limits the fake reports (and, with ``enforce``, applies)."""

    requests: int = 4_000
    input_tokens: int = 2_000_000
    output_tokens: int = 400_000
    window_s: float = 60.0
    enforce: bool = False


class RateWindow:
    """A fixed window per limit: simpler than the API's token bucket, but the headers
    carry the same names and meanings (limit, remaining, RFC 3339 reset)."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self._clock = clock
        self._start = clock()
        self._used = {"requests": 0, "input-tokens": 0, "output-tokens": 0}

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

    def exceeded_by(self, input_tokens: int) -> str | None:
        """The limit a request with this input would break, if any is enforced."""
        if not self.limits.enforce:
            return None
        if self.remaining("requests") < 1:
            return "requests"
        if self.remaining("input-tokens") < input_tokens:
            return "input tokens"
        if self.remaining("output-tokens") < 1:
            return "output tokens"
        return None

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
