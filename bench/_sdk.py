"""The parallel benchmark through the real Anthropic SDK against the fake Messages API.

Same episodes and latencies as the demo table, but every call is a real streamed HTTP request
over loopback, parsed by the SDK and validated: what the pipeline costs on top of the model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import anthropic

from scriptgen.generator import ScriptGenerator
from scriptgen.providers.anthropic import AnthropicProvider
from scriptgen.providers.base import StepKind
from tests.episode_responder import EpisodeResponder
from tests.fake_anthropic import FakeAnthropic

Rows = list[tuple[int, float, float]]
Measure = Callable[[Callable[[int], ScriptGenerator], int, list[int]], Awaitable[Rows]]
TOOLS: dict[StepKind, str] = {
    "outline": "write_outline",
    "dialogue": "write_dialogue",
    "directions": "add_stage_directions",
    "comedy": "punch_up",
}


async def sdk_results(
    scene_counts: list[int], measure: Measure, latencies: Mapping[StepKind, float]
) -> dict[int, Rows]:
    by_tool = {TOOLS[kind]: seconds for kind, seconds in latencies.items() if kind in TOOLS}
    results: dict[int, Rows] = {}
    async with FakeAnthropic(responder=EpisodeResponder(seed=1), ttft_by_tool=by_tool) as fake:
        client = anthropic.AsyncAnthropic(api_key="bench", base_url=fake.base_url)

        def generator(parallel: int) -> ScriptGenerator:
            return ScriptGenerator(AnthropicProvider(client), parallel)

        for scenes in scene_counts:
            results[scenes] = await measure(generator, scenes, sorted({1, 3, scenes}))
        await client.close()
    return results
