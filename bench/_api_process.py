"""The fake Messages API in a process of its own, for a bench that measures the client's process.

The Anthropic API is not in the bot's process: a fake serving from the bot's own event loop
would add its work (answering, streaming, keeping every request) to the loop being measured.

    async with fake_api_process(ttft_by_tool={...}, stream_s_by_tool={...}) as base_url: ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script too

from tests.episode_responder import EpisodeResponder
from tests.fake_anthropic import FakeAnthropic, RateLimits

__all__ = ["fake_api_process"]

ROOT = str(Path(__file__).resolve().parents[1])


@contextlib.asynccontextmanager
async def fake_api_process(seed: int = 7, **options: Any) -> AsyncIterator[str]:
    """Start the fake (``options`` as ``FakeAnthropic``'s, JSON-able; ``rate_limits`` as a dict
    of ``RateLimits`` fields) in a subprocess; yield its base URL; stop it."""
    config = json.dumps({"seed": seed, **options})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench._api_process",
        config,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        if not line:
            raise RuntimeError("the fake Messages API process did not start")
        yield line.decode().strip()
    finally:
        process.stdin.close()  # it serves until its stdin closes
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _serve(config: dict[str, Any]) -> None:
    seed = config.pop("seed")
    limits = config.pop("rate_limits", None)
    if limits is not None:
        config["rate_limits"] = RateLimits(**limits)
    async with FakeAnthropic(responder=EpisodeResponder(seed=seed), **config) as fake:
        print(fake.base_url, flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(_serve(json.loads(sys.argv[1])))
