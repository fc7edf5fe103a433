"""The Anthropic provider's failures and retries, over loopback on the fake Messages API.

Nothing of the SDK is mocked: every failure below reaches the provider the way it would
in production (an HTTP status, an SSE ``error`` event, a half-sent chunked body), so the
tests also pin down what the installed SDK actually raises for each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, cast

import anthropic
import pytest

from scriptgen.errors import ProviderError
from scriptgen.models import EpisodeRequest, Outline
from scriptgen.providers.anthropic import (
    AnthropicProvider,
    ExponentialBackoff,
    RateLimitSnapshot,
    server_delay,
)
from scriptgen.providers.base import StepFacts, StepRequest
from tests.fake_anthropic import FakeAnthropic, RateLimits

KEY = "sk-ant-test-key-0123456789"


class RecordingBackoff:
    """Records what the provider asked to wait; never sleeps."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, float | None]] = []

    async def wait(self, retry: int, server_delay: float | None) -> None:
        self.calls.append((retry, server_delay))


def step() -> StepRequest[Any]:
    return StepRequest(
        kind="outline",
        key="outline",
        output=Outline,
        system="You write sitcoms.",
        shared_context=("SERIES BIBLE. Dana runs a coffee shop.",),
        prompt="Write it.",
        max_tokens=4000,
        facts=StepFacts(request=EpisodeRequest(premise="A parrot inherits the building.")),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as server:
        yield server


@pytest.fixture
def backoff() -> RecordingBackoff:
    return RecordingBackoff()


@pytest.fixture
async def provider(
    fake: FakeAnthropic, backoff: RecordingBackoff
) -> AsyncIterator[AnthropicProvider]:
    async with anthropic.AsyncAnthropic(api_key=KEY, base_url=fake.base_url) as client:
        yield AnthropicProvider(client, "claude-test", backoff=backoff)


# -- retries ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected_delay"),
    [({"retry-after": "7"}, 7.0), ({"retry-after-ms": "1500", "retry-after": "2"}, 1.5)],
)
async def test_rate_limit_is_retried_after_the_servers_delay(
    fake: FakeAnthropic,
    provider: AnthropicProvider,
    backoff: RecordingBackoff,
    headers: dict[str, str],
    expected_delay: float,
) -> None:
    fake.enqueue_status(429, headers=headers)

    result = await provider.generate(step())

    assert result.usage.retries == 1
    assert backoff.calls == [(1, expected_delay)]
    assert [r.status for r in fake.requests] == [429, 200]


async def test_overload_then_server_error_then_success(
    fake: FakeAnthropic, provider: AnthropicProvider, backoff: RecordingBackoff
) -> None:
    fake.enqueue_status(529)
    fake.enqueue_status(500)

    result = await provider.generate(step())

    assert result.usage.retries == 2
    assert backoff.calls == [(1, None), (2, None)]
    assert [r.status for r in fake.requests] == [529, 500, 200]


async def test_persistent_overload_gives_up_after_max_attempts(
    fake: FakeAnthropic, provider: AnthropicProvider, backoff: RecordingBackoff
) -> None:
    for _ in range(4):
        fake.enqueue_status(529)

    with pytest.raises(ProviderError) as caught:
        await provider.generate(step())

    assert (caught.value.retryable, caught.value.status) == (True, 529)
    assert str(caught.value).startswith(
        "Anthropic is overloaded (529) and still was after 4 attempts"
    )
    assert (len(fake.requests), len(backoff.calls)) == (4, 3)


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (429, "enforced_spend_limit_reached", "Monthly usage threshold reached."),
        (429, "contract_spend_limit_reached", "Contract spend limit reached."),
        (400, None, "You have reached your specified API usage limits."),
    ],
)
async def test_a_reached_spend_limit_is_not_retried(
    fake: FakeAnthropic,
    provider: AnthropicProvider,
    backoff: RecordingBackoff,
    status: int,
    code: str | None,
    message: str,
) -> None:
    fake.enqueue_status(status, error_code=code, message=message)

    with pytest.raises(ProviderError) as caught:
        await provider.generate(step())

    assert (caught.value.retryable, caught.value.status) == (False, status)
    assert str(caught.value).startswith(
        f"Anthropic's spend limit for this organization is reached ({status}): retrying will not"
    )
    assert (len(fake.requests), backoff.calls) == (1, [])


@pytest.mark.parametrize("status", [400, 403, 404, 413])
async def test_client_errors_are_not_retried(
    fake: FakeAnthropic, provider: AnthropicProvider, status: int
) -> None:
    fake.enqueue_status(status, message="nope")

    with pytest.raises(ProviderError) as caught:
        await provider.generate(step())

    assert (caught.value.retryable, caught.value.status) == (False, status)
    assert f"({status}): " in str(caught.value)
    assert str(caught.value).endswith("(Anthropic said: nope)")
    assert len(fake.requests) == 1


async def test_should_retry_false_is_obeyed(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.enqueue_status(529, headers={"x-should-retry": "false"})

    with pytest.raises(ProviderError) as caught:
        await provider.generate(step())

    assert not caught.value.retryable
    assert "Anthropic is overloaded (529) (Anthropic asked not to retry)" in str(caught.value)
    assert len(fake.requests) == 1


async def test_rejected_key_is_not_retried(backoff: RecordingBackoff) -> None:
    async with (
        FakeAnthropic(api_key="the-right-key") as fake,
        anthropic.AsyncAnthropic(api_key=KEY, base_url=fake.base_url) as client,
    ):
        provider = AnthropicProvider(client, "claude-test", backoff=backoff)
        with pytest.raises(ProviderError) as caught:
            await provider.generate(step())

    message = str(caught.value)
    assert message.startswith("Anthropic rejected the API key (401): check ANTHROPIC_API_KEY")
    assert KEY not in message
    assert (caught.value.retryable, caught.value.status) == (False, 401)
    assert (len(fake.requests), backoff.calls) == (1, [])


async def test_a_key_echoed_by_the_server_is_redacted(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.enqueue_status(401, message=f"invalid x-api-key: {KEY}")

    with pytest.raises(ProviderError) as caught:
        await provider.generate(step())

    assert str(caught.value).endswith("(Anthropic said: invalid x-api-key: [redacted])")
    assert caught.value.__cause__ is None  # the SDK's error, which quotes the body, is dropped


async def test_error_event_mid_stream_is_retried(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.enqueue_stream_error(after_chunks=2, error_type="overloaded_error")

    result = await provider.generate(step())

    assert result.usage.retries == 1
    assert [r.outcome for r in fake.requests] == ["stream_error", "ok"]


async def test_dropped_stream_is_retried(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    fake.enqueue_drop(after_chunks=2)

    result = await provider.generate(step())

    assert isinstance(result.value, Outline)
    assert result.usage.retries == 1
    assert [r.outcome for r in fake.requests] == ["dropped", "ok"]


async def test_stream_cut_off_every_time_is_reported_as_such(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    for _ in range(2):
        fake.enqueue_drop(after_chunks=1)
        fake.enqueue_stream_error(after_chunks=1, error_type="api_error")

    with pytest.raises(ProviderError) as caught:
        await provider.generate(step())

    message = str(caught.value)
    assert (caught.value.retryable, caught.value.status) == (True, 500)
    assert message.startswith(
        "the response stream was cut off mid-way by an error event (api_error)"
    )
    assert "after 4 attempts" in message


# -- cancellation, rate limits, back-off ------------------------------------------------------


async def test_cancellation_closes_the_stream_promptly(backoff: RecordingBackoff) -> None:
    async with (
        FakeAnthropic(per_chunk=0.5, chunk_chars=16) as fake,
        anthropic.AsyncAnthropic(api_key=KEY, base_url=fake.base_url) as client,
    ):
        provider = AnthropicProvider(client, "claude-test", backoff=backoff)
        task = asyncio.create_task(provider.generate(step()))
        async with asyncio.timeout(5):
            await fake.wait_for_request()
        await asyncio.sleep(0.2)  # into the slow stream
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 1.0
        await asyncio.wait_for(fake.requests[0].done.wait(), 1.0)

    assert fake.requests[0].outcome == "client_closed"


async def test_rate_limit_headers_are_kept(backoff: RecordingBackoff) -> None:
    limits = RateLimits(requests=50, input_tokens=30_000, output_tokens=8_000)
    async with (
        FakeAnthropic(rate_limits=limits) as fake,
        anthropic.AsyncAnthropic(api_key=KEY, base_url=fake.base_url) as client,
    ):
        provider = AnthropicProvider(client, "claude-test", backoff=backoff)
        assert provider.rate_limits is None
        await provider.generate(step())

    snapshot = provider.rate_limits
    assert isinstance(snapshot, RateLimitSnapshot)
    assert (snapshot.requests.limit, snapshot.requests.remaining) == (50, 49)
    assert (snapshot.input_tokens.limit, snapshot.output_tokens.limit) == (30_000, 8_000)
    assert 0 < (snapshot.input_tokens.remaining or 0) < 30_000
    assert snapshot.tokens.limit == 8_000  # output tokens are the tighter limit here
    assert isinstance(snapshot.requests.reset, datetime)
    assert snapshot.requests.reset.tzinfo is not None


async def test_exponential_backoff_caps_the_server_and_jitters_the_rest() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    policy = ExponentialBackoff(base_s=1.0, max_s=8.0, sleep=sleep)
    await policy.wait(1, 3600.0)
    await policy.wait(1, 2.5)
    assert slept == [60.0, 2.5]
    for retry, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 8.0)]:
        assert all(0.0 <= policy.delay(retry, None) <= ceiling for _ in range(200))


def test_server_delay_reads_every_form() -> None:
    assert server_delay({"retry-after-ms": "250"}) == 0.25
    assert server_delay({"retry-after": "3"}) == 3.0
    assert server_delay({}) is None
    in_ten = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 10))
    delay = server_delay({"retry-after": in_ten})
    assert 8.0 <= (delay or 0.0) <= 10.0


# -- the fake itself ------------------------------------------------------------------------------


async def test_the_fake_answers_plain_json_and_counts_requests_in_flight(
    fake: FakeAnthropic,
) -> None:
    fake.ttft = 0.2
    async with anthropic.AsyncAnthropic(api_key=KEY, base_url=fake.base_url) as client:
        calls = [
            client.messages.with_raw_response.create(
                model="m", max_tokens=50, messages=[{"role": "user", "content": "Hi."}]
            )
            for _ in range(3)
        ]
        responses = await asyncio.gather(*calls)

    assert [r.headers["content-type"] for r in responses] == ["application/json"] * 3
    assert [(await r.parse()).content[0].type for r in responses] == ["text"] * 3
    assert fake.max_in_flight == 3


async def test_the_fake_refuses_what_the_api_refuses(fake: FakeAnthropic) -> None:
    orphan = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "?"}
    async with anthropic.AsyncAnthropic(api_key=KEY, base_url=fake.base_url) as client:
        with pytest.raises(anthropic.BadRequestError, match="unexpected `tool_use_id`"):
            await client.messages.create(
                model="m", max_tokens=5, messages=cast(Any, [{"role": "user", "content": [orphan]}])
            )
