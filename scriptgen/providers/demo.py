"""An offline provider: real-looking episodes with simulated model latency and no key.

It is how a newcomer tries the tool, how tests exercise the pipeline without a network, and how
the benchmark measures orchestration against a known latency.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from pydantic import BaseModel

from scriptgen.errors import InvalidOutputError
from scriptgen.models import CallUsage, Outline
from scriptgen.providers import demo_writer
from scriptgen.providers.base import Generation, OutputT, StepKind, StepRequest, first_token
from scriptgen.tokens import estimate_tokens

DEMO_MODEL = "showrunner-demo"


class DemoProvider:
    """Writes with :mod:`demo_writer`, taking as long as a model would.

    A call lasts ``time_to_first_token + seconds_per_token * output_tokens``, or the fixed
    ``latencies[step.kind]`` when given (the benchmark's known latencies). An outline streams its
    scenes over that time to a step's ``on_partial``, as a model's does; its first token is
    reported after ``time_to_first_token`` (a streamed outline's with its first piece; never for
    a fixed latency). Usage mimics prompt caching: a shared prefix seen before is reported as
    read from the cache.
    """

    name = "demo"
    model = DEMO_MODEL

    def __init__(
        self,
        seed: int = 0,
        *,
        time_to_first_token: float = 0.25,
        seconds_per_token: float = 0.002,
        latencies: Mapping[StepKind, float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.seed = seed
        self.time_to_first_token = time_to_first_token
        self.seconds_per_token = seconds_per_token
        self.latencies = dict(latencies or {})
        self._sleep = sleep
        self._cached_prefixes: set[str] = set()

    async def generate(self, step: StepRequest[OutputT]) -> Generation[OutputT]:
        started = time.monotonic()
        value = cast(OutputT, self._write(step))
        if step.check is not None:
            try:
                step.check(value)
            except ValueError as exc:
                raise InvalidOutputError(f"{step.key}: {exc}") from exc
        output_tokens = estimate_tokens(value.model_dump_json())
        delay = self.latencies.get(
            step.kind, self.time_to_first_token + self.seconds_per_token * output_tokens
        )
        if delay > 0 and step.on_partial is not None and isinstance(value, Outline):
            await self._stream_outline(value, delay, step.on_partial)
        elif delay > 0 and step.kind not in self.latencies:
            begins = min(self.time_to_first_token, delay)
            await self._sleep(begins)
            first_token()
            await self._sleep(delay - begins)
        elif delay > 0:  # a fixed latency says nothing of when the answer would begin
            await self._sleep(delay)
        prefix = "\n".join((step.system, *step.shared_context))
        digest = hashlib.sha256(prefix.encode()).hexdigest()
        cached = digest in self._cached_prefixes
        self._cached_prefixes.add(digest)
        usage = CallUsage(
            step=step.key,
            model=self.model,
            input_tokens=estimate_tokens(step.prompt),
            output_tokens=output_tokens,
            cache_write_tokens=0 if cached else estimate_tokens(prefix),
            cache_read_tokens=estimate_tokens(prefix) if cached else 0,
            latency_s=time.monotonic() - started,
        )
        return Generation(value=value, usage=usage)

    async def _stream_outline(
        self, outline: Outline, delay: float, on_partial: Callable[[Any], None]
    ) -> None:
        """Tell the outline as a model streams it: title and logline, then one scene after
        another over the call's time, each whole once the next one has begun (its heading)."""
        data = outline.model_dump(mode="json")
        scenes: list[dict[str, Any]] = data["scenes"]
        unit = delay / (len(scenes) + 1)
        await self._sleep(unit)
        first_token()
        for n in range(1, len(scenes)):
            await self._sleep(unit)
            on_partial({**data, "scenes": [*scenes[:n], {"heading": scenes[n]["heading"]}]})
        await self._sleep(unit)

    def _write(self, step: StepRequest[OutputT]) -> BaseModel:
        facts, seed, key = step.facts, self.seed, step.key
        match step.kind:
            case "outline":
                return demo_writer.outline(seed, facts, key)
            case "dialogue":
                return demo_writer.dialogue(seed, facts, key)
            case "directions":
                return demo_writer.directions(seed, facts, key)
            case "comedy":
                return demo_writer.comedy(seed, facts, key)
            case "refine":
                return demo_writer.comedy(seed, facts, key, only_scene=facts.scene_index)
