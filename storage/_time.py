"""How instants are written to the database: fixed-width UTC text.

Every timestamp has the same width and zone (``2025-01-31T09:05:02.123456Z``), so comparing the
text compares the instants: ``ORDER BY`` and ``created_at >= ?`` work in SQL without parsing,
and the file stays readable in the ``sqlite3`` shell.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current instant, timezone-aware. Injected so tests never wait for real time."""

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_db(instant: datetime) -> str:
    """Format an aware datetime for storage; a naive one is refused as ambiguous."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got naive {instant!r}")
    return instant.astimezone(UTC).strftime(_FORMAT)


def from_db(text: str) -> datetime:
    return datetime.strptime(text, _FORMAT).replace(tzinfo=UTC)
