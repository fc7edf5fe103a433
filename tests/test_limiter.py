"""The process-wide call limiter: bound, round-robin fairness, cancellation safety."""

from __future__ import annotations

import asyncio

import pytest

from scriptgen.limiter import FairLimiter


async def test_waiters_are_served_round_robin_across_tenants() -> None:
    """A tenant with many queued calls cannot starve one that queued a single call later."""
    limiter = FairLimiter(1)
    order: list[str] = []
    gate = asyncio.Event()

    async def call(tenant: str, label: str) -> None:
        async with limiter.slot(tenant):
            order.append(label)
            await gate.wait()

    holder = asyncio.create_task(call("busy", "busy-0"))
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(call("busy", f"busy-{i}")) for i in range(1, 4)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(call("quiet", "quiet-1")))
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(holder, *tasks)
    assert order == ["busy-0", "busy-1", "quiet-1", "busy-2", "busy-3"]
    assert limiter.peak == 1


async def test_cancelled_waiter_frees_its_place() -> None:
    """A waiter cancelled while queued neither holds a slot nor blocks the queue."""
    limiter = FairLimiter(1)
    release = asyncio.Event()

    async def hold() -> None:
        async with limiter.slot("a"):
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    assert limiter.waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.waiting == 0
    release.set()
    await holder
    assert limiter.in_flight == 0
    async with limiter.slot("b"):
        assert limiter.in_flight == 1


async def test_capacity_can_grow_at_run_time() -> None:
    """Raising the capacity admits waiters at once (what an adaptive policy will do)."""
    limiter = FairLimiter(1)
    release = asyncio.Event()
    running = 0

    async def call() -> None:
        nonlocal running
        async with limiter.slot("a"):
            running += 1
            await release.wait()

    tasks = [asyncio.create_task(call()) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert running == 1
    limiter.set_capacity(3)
    await asyncio.sleep(0.01)
    assert running == 3
    release.set()
    await asyncio.gather(*tasks)


async def test_drain_lets_running_calls_finish_and_starts_no_new_one() -> None:
    """A graceful stop: calls in flight complete, queued ones never start."""
    limiter = FairLimiter(1)
    finished: list[str] = []
    release = asyncio.Event()

    async def call(label: str) -> None:
        async with limiter.slot("a"):
            await release.wait()
            finished.append(label)

    first = asyncio.create_task(call("first"))
    await asyncio.sleep(0)
    queued = asyncio.create_task(call("queued"))
    await asyncio.sleep(0)
    drain = asyncio.create_task(limiter.drain(timeout=5))
    await asyncio.sleep(0)
    release.set()
    assert await drain is True
    assert finished == ["first"] and not queued.done()
    queued.cancel()
    await asyncio.gather(first, queued, return_exceptions=True)
    assert limiter.in_flight == 0


async def test_drain_times_out_when_a_call_hangs() -> None:
    """drain gives up after its timeout (the caller then cancels what is left)."""
    limiter = FairLimiter(2)
    hang = asyncio.Event()

    async def call() -> None:
        async with limiter.slot("a"):
            await hang.wait()

    task = asyncio.create_task(call())
    await asyncio.sleep(0)
    assert await limiter.drain(timeout=0.05) is False
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
