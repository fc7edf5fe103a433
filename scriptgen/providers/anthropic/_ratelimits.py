"""The ``anthropic-ratelimit-*`` response headers, kept for a limiter to pace calls by."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


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
