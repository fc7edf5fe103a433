"""A test provider: the demo's writing, with controllable latency, failures and a call log.

A real implementation of the provider contract (as simonw/llm's test models are), so the
generator is exercised exactly as with any provider.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scriptgen.errors import ScriptgenError
from scriptgen.providers.base import Generation, OutputT, StepKind, StepRequest
from scriptgen.providers.demo import DemoProvider


@dataclass
class CallRecord:
    key: str
    kind: StepKind
    scene: int | None
    started: float
    ended: float | None = None
    cancelled: bool = False


@dataclass
class ScriptedProvider:
    latencies: Mapping[StepKind, float] = field(default_factory=dict)
    """By kind; an outline asked to stream (``on_partial``) tells its scenes over its latency."""
    failures: dict[str, BaseException] = field(default_factory=dict)
    """Step key -> the exception its call raises (after its latency)."""
    amend: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    """Step key -> what the answer becomes after it streamed (a model that, asked again,
    answers otherwise than it first streamed)."""
    seed: int = 0
    name: str = "demo"
    model: str = "showrunner-demo"
    history: list[CallRecord] = field(default_factory=list)
    in_flight: dict[int, CallRecord] = field(default_factory=dict)
    peak_scenes_in_flight: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._writer = DemoProvider(seed=self.seed, time_to_first_token=0, seconds_per_token=0)

    @property
    def scenes_in_flight(self) -> set[int]:
        return {r.scene for r in self.in_flight.values() if r.scene is not None}

    async def generate(self, step: StepRequest[OutputT]) -> Generation[OutputT]:
        loop = asyncio.get_running_loop()
        scene = step.facts.scene_index if step.kind in ("dialogue", "directions") else None
        record = CallRecord(step.key, step.kind, scene, loop.time())
        self.history.append(record)
        self.in_flight[id(record)] = record
        self.peak_scenes_in_flight = max(self.peak_scenes_in_flight, len(self.scenes_in_flight))
        self.started.set()
        latency = self.latencies.get(step.kind, 0.0)
        try:
            if step.on_partial is not None and step.kind == "outline" and latency > 0:
                streamer = DemoProvider(seed=self.seed, latencies={"outline": latency})
                generation = await streamer.generate(step)
            else:
                await asyncio.sleep(latency)
                generation = await self._writer.generate(step)
            failure = self.failures.get(step.key)
            if failure is not None:
                raise failure
            if step.key in self.amend:
                generation = Generation(self.amend[step.key](generation.value), generation.usage)
        except asyncio.CancelledError:
            record.cancelled = True
            raise
        finally:
            record.ended = loop.time()
            del self.in_flight[id(record)]
        usage = generation.usage.model_copy(update={"model": self.model})
        return Generation(generation.value, usage)


class Boom(ScriptgenError):
    """A failure injected by a test."""
