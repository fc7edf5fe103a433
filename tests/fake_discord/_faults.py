"""Injected failures: one-shot 429s and errors, and an optional bucket emulation.

The 429s are the real thing as far as discord.py can tell: a ``Via`` header
(without it discord.py assumes a Cloudflare ban and raises instead of
retrying), ``retry_after`` in the JSON body (what it actually sleeps on) and
the ``X-RateLimit-*`` headers it reads.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ._records import RecordedRequest, route_matches
from ._replies import Reply

RequestMatcher = str | Callable[[RecordedRequest], bool]


def compile_matcher(matcher: RequestMatcher) -> Callable[[RecordedRequest], bool]:
    """A predicate from a route template (``"PATCH /channels/{channel_id}/messages/{message_id}"``,
    or without the method for any method) or from a predicate itself."""
    if callable(matcher):
        return matcher
    pattern = matcher
    return lambda request: route_matches(pattern, request)


def rate_limit_reply(
    retry_after: float,
    *,
    global_: bool,
    bucket: str,
    limit: int,
    scope: str = "user",
) -> Reply:
    """A 429 exactly as Discord sends it."""
    headers = {
        "Via": "1.1 google",
        "Retry-After": str(max(1, math.ceil(retry_after))),
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{retry_after:.3f}",
        "X-RateLimit-Bucket": bucket,
        "X-RateLimit-Scope": "global" if global_ else scope,
    }
    if global_:
        headers["X-RateLimit-Global"] = "true"
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": global_}
    return Reply(429, body, headers)


@dataclass
class _OneShot:
    matches: Callable[[RecordedRequest], bool]
    times: int
    reply: Callable[[], Reply]


@dataclass
class _Bucket:
    """Fixed-window limiter: ``limit`` requests per ``per`` seconds per key."""

    matches: Callable[[RecordedRequest], bool]
    limit: int
    per: float
    advertise: bool
    key: Callable[[RecordedRequest], str]
    windows: dict[str, tuple[float, int]] = field(default_factory=dict)

    def take(self, request: RecordedRequest, now: float) -> tuple[bool, float, int]:
        """Counts the request; returns (allowed, seconds to reset, remaining)."""
        key = self.key(request)
        start, count = self.windows.get(key, (now, 0))
        if now - start >= self.per:
            start, count = now, 0
        reset_after = self.per - (now - start)
        if count >= self.limit:
            self.windows[key] = (start, count)
            return False, reset_after, 0
        self.windows[key] = (start, count + 1)
        return True, reset_after, self.limit - count - 1


@dataclass
class _Stall:
    matches: Callable[[RecordedRequest], bool]
    times: int
    seconds: float


@dataclass
class FaultInjector:
    """Decides, before a handler runs, whether a request is refused."""

    one_shots: list[_OneShot] = field(default_factory=list)
    buckets: list[_Bucket] = field(default_factory=list)
    stalls: list[_Stall] = field(default_factory=list)

    def add_stall(self, matcher: RequestMatcher, times: int, seconds: float) -> None:
        """The next ``times`` matching requests are handled, then answered ``seconds`` late."""
        self.stalls.append(_Stall(compile_matcher(matcher), times, seconds))

    def stall_for(self, request: RecordedRequest) -> float:
        """How long to hold the answer of a request already handled."""
        for stall in self.stalls:
            if stall.times > 0 and stall.matches(request):
                stall.times -= 1
                return stall.seconds
        return 0.0

    def add_rate_limit(
        self, matcher: RequestMatcher, times: int, retry_after: float, global_: bool
    ) -> None:
        """The next ``times`` matching requests get a 429."""
        self.one_shots.append(
            _OneShot(
                compile_matcher(matcher),
                times,
                lambda: rate_limit_reply(
                    retry_after, global_=global_, bucket="fakeinjected", limit=1
                ),
            )
        )

    def add_failure(
        self, matcher: RequestMatcher, times: int, status: int, message: str, code: int
    ) -> None:
        """The next ``times`` matching requests get ``status`` with a JSON error."""
        self.one_shots.append(
            _OneShot(
                compile_matcher(matcher),
                times,
                lambda: Reply(status, {"message": message, "code": code}),
            )
        )

    def add_bucket(
        self,
        matcher: RequestMatcher,
        limit: int,
        per: float,
        advertise: bool,
        key: Callable[[RecordedRequest], str] | None,
    ) -> None:
        """Emulates a per-route bucket; the default key is method + concrete path."""
        self.buckets.append(
            _Bucket(
                compile_matcher(matcher),
                limit,
                per,
                advertise,
                key or (lambda r: f"{r.method} {r.path}"),
            )
        )

    def check(self, request: RecordedRequest) -> tuple[Reply | None, dict[str, str]]:
        """A refusal to send instead of handling, and headers to add to a success."""
        for shot in self.one_shots:
            if shot.times > 0 and shot.matches(request):
                shot.times -= 1
                return shot.reply(), {}
        headers: dict[str, str] = {}
        now = time.monotonic()
        for index, bucket in enumerate(self.buckets):
            if not bucket.matches(request):
                continue
            allowed, reset_after, remaining = bucket.take(request, now)
            name = f"fakebucket{index}"
            if not allowed:
                return (
                    rate_limit_reply(reset_after, global_=False, bucket=name, limit=bucket.limit),
                    {},
                )
            if bucket.advertise:
                headers.update(
                    {
                        "X-RateLimit-Limit": str(bucket.limit),
                        "X-RateLimit-Remaining": str(remaining),
                        "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                        "X-RateLimit-Bucket": name,
                    }
                )
        return None, headers
