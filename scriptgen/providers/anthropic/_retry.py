"""How a failed call is classified (retry or not, and what to tell the user) and how long to
wait before the next attempt.

Every failure the SDK can surface is turned into a :class:`Failure` once, here: an HTTP status
(with Anthropic's ``x-should-retry`` and ``retry-after`` advice), an SSE ``error`` event (which
the SDK reports as status 200), a connection error, or a stream cut off mid-way.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from anthropic import APIConnectionError, APIStatusError, APITimeoutError

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


# -- failures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
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


def status_failure(err: APIStatusError, model: str) -> Failure:
    status, detail = err.status_code, err.api_message or None
    if status == 200:  # an SSE error event: the HTTP status was fine, the stream was not
        kind = err.type or "unknown error"
        return Failure(
            f"the response stream was cut off mid-way by an error event ({kind})",
            "try again in a few minutes",
            kind in _STREAM_ERROR_STATUS,
            _STREAM_ERROR_STATUS.get(kind),
            detail,
        )
    headers = err.response.headers
    spent = status in (400, 402, 429) and _SPEND_WORDS.search(detail or "") is not None
    if err.error_code in SPEND_LIMIT_CODES or spent:
        return Failure(
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
    return Failure(
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


def connection_failure(err: APIConnectionError) -> Failure:
    if isinstance(err, APITimeoutError):
        return Failure("Anthropic is timing out", "check the network, or try again", True)
    why = type(err.__cause__).__name__ if err.__cause__ else "connection error"
    return Failure(
        f"Anthropic is unreachable ({why})", "check the network and ANTHROPIC_BASE_URL", True
    )


def cut_off(why: str) -> Failure:
    return Failure(
        f"the response stream was cut off mid-way ({why})",
        "check the network connection, or try again",
        True,
    )
