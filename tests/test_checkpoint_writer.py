"""Checkpoints written behind the pipeline: in order, never dropped, and never in its way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from pydantic import BaseModel

from scriptgen.checkpoints import CheckpointWriter, MemoryCheckpoints
from scriptgen.generator import ScriptGenerator
from scriptgen.limiter import FairLimiter
from scriptgen.models import CallUsage, EpisodeRequest, SceneDialogue
from tests.scripted_provider import ScriptedProvider

VALUE = SceneDialogue.model_validate({"lines": [{"character": "MAYA", "line": "Brew. Now."}]})


def usage(step: str) -> CallUsage:
    return CallUsage(step=step, model="demo-1")


def request(scenes: int = 3) -> EpisodeRequest:
    return EpisodeRequest(
        premise="A barista discovers the espresso machine is haunted", scene_count=scenes
    )


async def until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` until it holds; fail (rather than hang) after 5 s."""
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.005)


class GatedCheckpoints(MemoryCheckpoints):
    """Memory checkpoints whose saves wait for ``gate``, like a disk that has stalled;
    ``fail`` makes the save of that key raise, like a disk that has filled up."""

    def __init__(self, fail: str | None = None) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = fail
        self.order: list[str] = []

    async def save(self, key: str, value: BaseModel, usage: CallUsage) -> None:
        await self.gate.wait()
        if key == self.fail:
            raise OSError(28, "No space left on device")
        await super().save(key, value, usage)
        self.order.append(key)

    async def record_failure(self, key: str, usage: CallUsage) -> None:
        await self.gate.wait()
        await super().record_failure(key, usage)
        self.order.append(f"failed {key}")


async def test_saves_are_written_in_the_order_handed_over() -> None:
    """Saves and failure rows land one after another, in the order they were handed over."""
    checkpoints = GatedCheckpoints()
    checkpoints.gate.clear()
    writer = CheckpointWriter(checkpoints)
    for key in ("outline", "scene:1:dialogue", "scene:2:dialogue"):
        writer.save(key, VALUE, usage(key))
    writer.record_failure("scene:1:directions", usage("scene:1:directions"))
    writer.save("scene:2:directions", VALUE, usage("scene:2:directions"))
    assert writer.pending == 5
    await asyncio.sleep(0.01)
    assert checkpoints.order == []
    checkpoints.gate.set()
    await writer.settle()
    assert checkpoints.order == [
        "outline",
        "scene:1:dialogue",
        "scene:2:dialogue",
        "failed scene:1:directions",
        "scene:2:directions",
    ]
    assert writer.pending == 0
    writer.check()


async def test_nothing_is_written_after_a_failed_save() -> None:
    """Once a save fails, later ones are not written (what is stored stays a prefix) and
    check() raises the failure."""
    checkpoints = GatedCheckpoints(fail="scene:1:dialogue")
    writer = CheckpointWriter(checkpoints)
    for key in ("outline", "scene:1:dialogue", "scene:1:directions"):
        writer.save(key, VALUE, usage(key))
    await writer.settle()
    writer.save("comedy", VALUE, usage("comedy"))
    await writer.settle()
    assert checkpoints.order == ["outline"]
    assert set(checkpoints.steps) == {"outline"}
    with pytest.raises(OSError, match="No space left"):
        writer.check()


async def test_cancelling_settle_leaves_the_writes_going() -> None:
    """A cancelled wait does not cancel the commit it waited for."""
    checkpoints = GatedCheckpoints()
    checkpoints.gate.clear()
    writer = CheckpointWriter(checkpoints)
    writer.save("outline", VALUE, usage("outline"))
    waiting = asyncio.create_task(writer.settle())
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    checkpoints.gate.set()
    await writer.settle()
    assert set(checkpoints.steps) == {"outline"}


async def test_the_next_call_does_not_wait_for_the_save() -> None:
    """With every save stalled, the pipeline still writes every scene; the episode returns only
    once the saves have landed, all of them."""
    checkpoints = GatedCheckpoints()
    checkpoints.gate.clear()
    provider = ScriptedProvider({"dialogue": 0.01, "directions": 0.01})
    run = asyncio.create_task(
        ScriptGenerator(provider, 3).generate_full_script(request(3), checkpoints=checkpoints)
    )
    await until(lambda: any(r.key == "comedy" for r in provider.history))
    assert checkpoints.steps == {}
    assert not run.done()
    checkpoints.gate.set()
    script = await run
    assert set(checkpoints.steps) == {u.step for u in script.usage}
    assert checkpoints.order[0] == "outline"
    for n in range(1, 4):
        dialogue = checkpoints.order.index(f"scene:{n}:dialogue")
        assert dialogue < checkpoints.order.index(f"scene:{n}:directions")
    assert checkpoints.order.index("comedy") > max(
        checkpoints.order.index(f"scene:{n}:directions") for n in range(1, 4)
    )


async def test_a_save_does_not_keep_the_limiter_slot() -> None:
    """The slot is handed to the next call while the step before it is still being saved."""
    checkpoints = GatedCheckpoints()
    checkpoints.gate.clear()
    limiter = FairLimiter(1)
    provider = ScriptedProvider()
    generator = ScriptGenerator(provider, 1, limiter=limiter)
    other = ScriptedProvider()
    run = asyncio.create_task(generator.generate_full_script(request(1), checkpoints=checkpoints))
    await until(lambda: any(r.key == "scene:1:dialogue" for r in provider.history))
    # The outline is still being saved, and another episode's call gets the only slot.
    async with asyncio.timeout(5):
        await ScriptGenerator(other, 1, limiter=limiter).generate_full_script(request(1))
    assert checkpoints.steps == {}
    checkpoints.gate.set()
    await run
    assert limiter.in_flight == 0


async def test_a_cancelled_episode_keeps_every_step_it_paid_for() -> None:
    """Cancel while saves are stalled: the run ends only once they have landed."""
    checkpoints = GatedCheckpoints()
    checkpoints.gate.clear()
    provider = ScriptedProvider({"dialogue": 0.01, "directions": 1.0})
    run = asyncio.create_task(
        ScriptGenerator(provider, 3).generate_full_script(request(3), checkpoints=checkpoints)
    )
    await until(lambda: sum(r.kind == "directions" for r in provider.history) == 3)
    run.cancel()
    await asyncio.sleep(0.02)
    assert not run.done(), "the run ended before its saves landed"
    checkpoints.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await run
    finished = {r.key for r in provider.history if r.ended is not None and not r.cancelled}
    assert finished == {"outline", "scene:1:dialogue", "scene:2:dialogue", "scene:3:dialogue"}
    assert set(checkpoints.steps) == finished


async def test_a_failed_save_fails_the_episode_and_stops_the_spending() -> None:
    """The save's error is the episode's; no call starts once it is known, and what is stored
    is the steps before it."""
    checkpoints = GatedCheckpoints(fail="scene:1:dialogue")
    provider = ScriptedProvider({"dialogue": 0.01, "directions": 0.01})
    with pytest.raises(OSError, match="No space left"):
        await ScriptGenerator(provider, 1).generate_full_script(request(3), checkpoints=checkpoints)
    asked = [r.key for r in provider.history]
    # The directions call may have started before the save of its dialogue had failed.
    assert asked[:2] == ["outline", "scene:1:dialogue"]
    assert set(asked) <= {"outline", "scene:1:dialogue", "scene:1:directions"}
    assert set(checkpoints.steps) == {"outline"}
