"""The step activity on its own (Temporal's activity test environment): an attempt that follows
one that died reuses what it saved; a first attempt never does."""

from __future__ import annotations

import dataclasses
from collections import Counter

from temporalio.testing import ActivityEnvironment

from scriptgen import prompts
from scriptgen.models import CallUsage, EpisodeRequest, Outline
from scriptgen.providers.base import Generation, OutputT, StepRequest
from scriptgen.providers.demo import DemoProvider
from scriptgen.temporal import StepActivities, recipe_of
from scriptgen.temporal.activities import StepCall
from storage import Database, SqliteCheckpoints
from tests.temporal.conftest import INSTANT, new_episode

REQUEST = EpisodeRequest(premise="A lighthouse keeper adopts a seagull", scene_count=2)


class Counting(DemoProvider):
    def __init__(self) -> None:
        super().__init__(latencies=INSTANT)
        self.calls = 0

    async def generate(self, step: StepRequest[OutputT]) -> Generation[OutputT]:
        self.calls += 1
        return await super().generate(step)


def attempt(number: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=number)
    return env


async def steps_in_ledger(db: Database, episode_id: int) -> Counter[str]:
    rows = await db.fetchall("SELECT step FROM usage WHERE episode_id = ?", (episode_id,))
    return Counter(row["step"] for row in rows)


async def test_a_retry_returns_the_step_its_dead_attempt_saved(db: Database) -> None:
    record = await new_episode(db, REQUEST)
    provider = Counting()
    activities = StepActivities(provider, lambda e, p: SqliteCheckpoints(db, e, p))
    call = StepCall(episode_id=record.id, recipe=recipe_of(prompts.outline_step(REQUEST)))

    first = await attempt(1).run(activities.run_step, call)
    # The worker died after saving, before Temporal heard: the next attempt finds the step.
    second = await attempt(2).run(activities.run_step, call)

    assert provider.calls == 1
    assert (first.reused, second.reused) == (False, True)
    assert second.payload == first.payload and second.usage == first.usage
    assert Outline.model_validate_json(second.payload).scenes
    assert await steps_in_ledger(db, record.id) == Counter({"outline": 1})


async def test_a_first_attempt_asks_again_over_a_stale_step(db: Database) -> None:
    """A step saved by an earlier run that no longer stands is written again, not reused."""
    record = await new_episode(db, REQUEST)
    stale = await DemoProvider(seed=9, latencies=INSTANT).generate(prompts.outline_step(REQUEST))
    checkpoints = SqliteCheckpoints(db, record.id)
    await checkpoints.save("outline", stale.value, CallUsage(step="outline", model="old"))
    provider = Counting()
    activities = StepActivities(provider, lambda e, p: SqliteCheckpoints(db, e, p))
    call = StepCall(episode_id=record.id, recipe=recipe_of(prompts.outline_step(REQUEST)))

    answer = await attempt(1).run(activities.run_step, call)

    assert provider.calls == 1 and not answer.reused
    assert (await checkpoints.load())["outline"].payload == answer.payload
    assert answer.payload != stale.value.model_dump_json()
