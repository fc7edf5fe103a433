"""The fault soak in small (bench/soak.py), and a model outage longer than the retries.

The soak runs once per module (six episodes from two guilds at once through the real bot, SDK
and provider, a fifth of the model requests faulted); each test checks one property of it. The
provider's back-off is instant (it only records what the server asked for): the faults are
real failures on the wire, the waits between retries are not what is tested here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.soak import (
    SoakConfig,
    SoakResult,
    is_final,
    make_provider,
    make_settings,
    populate,
    running_bot,
    soak,
)
from bot.client import ShowrunnerBot
from storage import EpisodeRecord, SqliteCheckpoints
from tests.episode_responder import EpisodeResponder
from tests.fake_anthropic import (
    FAULT_KINDS,
    FakeAnthropic,
    Outage,
    RecordedRequest,
    completed_by_step,
    step_of,
)
from tests.fake_discord import FakeDiscord, FakeInteraction, FakeMessage

SMALL = SoakConfig(
    guilds=2,
    per_guild=3,
    scenes=2,
    rate=0.2,
    seed=7,
    ttft=0.02,
    per_chunk=0.0,
    stall_s=0.3,
    status_interval=0.5,
    timeout=30.0,
)
RETRY_AFTER = SMALL.retry_after
TOKEN = "soak-bot-token"


class InstantBackoff:
    """Retries at once, keeping the delay the server asked for before each retry."""

    def __init__(self) -> None:
        self.server_delays: list[float | None] = []

    async def wait(self, retry: int, server_delay: float | None) -> None:
        self.server_delays.append(server_delay)
        await asyncio.sleep(0)


@dataclass
class Soaked:
    result: SoakResult
    backoff: InstantBackoff


@pytest.fixture(scope="module")
def soaked() -> Soaked:
    """One small soak for the whole module (a few seconds)."""
    backoff = InstantBackoff()
    return Soaked(asyncio.run(soak(SMALL, backoff)), backoff)


def test_every_episode_is_posted_exactly_once(soaked: Soaked) -> None:
    """Each episode's script is posted once, under its own nonce, and nothing else is."""
    result = soaked.result
    nonces = {f"sr-{r.public_id}" for r in result.records}
    assert len(nonces) == SMALL.expected
    assert dict(result.posts_by_nonce) == dict.fromkeys(nonces, 1)


def test_every_status_ends_on_script_posted(soaked: Soaked) -> None:
    """Every status message shows the finished summary and "Script posted", with no button."""
    finals = [is_final(i.original, SMALL.scenes) for i in soaked.result.interactions]
    assert finals == [True] * SMALL.expected


def test_every_episode_is_done_and_delivered_in_storage(soaked: Soaked) -> None:
    """Storage has every episode done, with its delivery recorded."""
    records = soaked.result.records
    assert [(r.status, r.error) for r in records] == [("done", None)] * SMALL.expected
    assert all(r.delivered_message_id is not None for r in records)


def test_no_step_gets_two_complete_answers(soaked: Soaked) -> None:
    """The fake answered each step of each episode to its end at most once."""
    answers = soaked.result.answers
    assert answers and max(answers.values()) == 1
    per_episode = {step.episode for step in answers}
    assert len(per_episode) == SMALL.expected
    # outline, every scene's dialogue and directions, the comedy pass: at least that many each
    assert len(answers) >= SMALL.expected * (2 + 2 * SMALL.scenes)


def test_the_ledger_has_each_step_once_and_every_answer(soaked: Soaked) -> None:
    """One ledger row per step, and as many rows as complete answers: none lost, none doubled."""
    result = soaked.result
    assert result.recorded_twice == []
    assert sum(result.ledger_ok.values()) == result.complete_answers
    assert result.ledger_errors == 0


def test_every_faulted_request_costs_exactly_one_retry(soaked: Soaked) -> None:
    """Requests are the complete answers plus the faulted ones, and the ledger counts each
    retry."""
    result = soaked.result
    assert result.failed_requests > 0
    assert result.requests == result.complete_answers + result.failed_requests
    assert result.ledger_retries == result.failed_requests


def test_every_fault_kind_was_met(soaked: Soaked) -> None:
    """429, 529, 500, dropped streams, SSE errors and stalls all happened during the soak."""
    faults = soaked.result.faults
    assert faults is not None
    assert set(faults.by_kind()) == set(FAULT_KINDS)


def test_each_429s_retry_after_reaches_the_backoff(soaked: Soaked) -> None:
    """The provider waits what a 429 asks (the fake sends ``retry-after``) before retrying."""
    faults = soaked.result.faults
    assert faults is not None
    assert soaked.backoff.server_delays.count(RETRY_AFTER) == faults.by_kind()["429"]


def test_nothing_is_logged_as_an_error(soaked: Soaked) -> None:
    """The faults are handled, not logged as errors."""
    assert soaked.result.errors_logged == []


# -- an outage longer than the retries --------------------------------------------------------

PREMISE = "The office goes paperless and the printer takes it personally"
KEPT = {"outline", "scene:1:dialogue", "scene:1:directions"}
ATTEMPTS = 3


def description(message: FakeMessage) -> str:
    return str(message.embeds[0].get("description", "")) if message.embeds else ""


@dataclass
class Outaged:
    """An episode that failed in an outage, with the world it ran in."""

    api: FakeAnthropic
    outage: Outage
    fake: FakeDiscord
    bot: ShowrunnerBot
    inter: FakeInteraction
    status: FakeMessage
    record: EpisodeRecord


def _scene_2_dialogue(record: RecordedRequest) -> bool:
    return step_of(record).key == "scene:2:dialogue"


@asynccontextmanager
async def failed_in_an_outage(tmp_path: Path) -> AsyncIterator[Outaged]:
    """A two-scene episode, scenes one at a time, whose API goes down (529 on every request)
    once scene 1 is written: its scene 2 dialogue fails after the provider's last attempt."""
    outage = Outage(begins=_scene_2_dialogue)
    async with (
        FakeAnthropic(responder=EpisodeResponder(seed=3), faults=outage) as api,
        FakeDiscord(bot_token=TOKEN) as fake,
    ):
        with fake.patch_discord_py():
            settings = make_settings(
                fake, api, tmp_path / "showrunner.db", max_parallel_scenes=1, status_interval=0.5
            )
            provider = make_provider(api, InstantBackoff(), ATTEMPTS)
            [room] = populate(fake, 1, 1)
            async with running_bot(fake, settings, provider) as bot:
                inter = await fake.invoke_slash_command(
                    room.guild,
                    room.channel,
                    room.writers[0],
                    "episode",
                    {"premise": PREMISE, "scenes": 2},
                    require_synced=True,
                )
                status = await inter.wait_for_original_edit(
                    lambda m: "Failed" in description(m) and not m.custom_ids(), 15
                )
                [record] = await bot.episodes.list_recent(room.guild.id)
                yield Outaged(api, outage, fake, bot, inter, status, record)


async def test_an_outage_fails_the_episode_saying_what_happened_and_keeps_its_steps(
    tmp_path: Path,
) -> None:
    """Past the retries, the status names the step and the overload, points to /episode-retry,
    and every step finished before the outage is kept."""
    async with failed_in_an_outage(tmp_path) as world:
        text = description(world.status)
        assert "Scene 2's dialogue failed" in text
        assert f"overloaded (529) and still was after {ATTEMPTS} attempts" in text
        assert "`/episode-retry` picks up from here" in text
        assert world.outage.failed == ATTEMPTS
        assert world.record.status == "failed"
        assert (world.record.error or "").startswith("Scene 2's dialogue failed")
        kept = await SqliteCheckpoints(world.bot.db, world.record.id).load()
        assert set(kept) == KEPT


async def test_episode_retry_after_an_outage_finishes_without_asking_finished_steps_again(
    tmp_path: Path,
) -> None:
    """Once the API is back, /episode-retry writes only what was missing and posts the script
    once."""
    async with failed_in_an_outage(tmp_path) as world:
        world.outage.end()
        before = len(world.api.requests)
        retry = await world.fake.invoke_slash_command(
            world.inter.guild,
            world.inter.channel,
            world.inter.user,
            "episode-retry",
            {"episode": world.record.public_id},
        )
        await retry.wait_for_original_edit(lambda m: is_final(m, 2), 15)
        [record] = await world.bot.episodes.list_recent(world.inter.guild.id)
    asked = {step_of(r).key for r in world.api.requests[before:]}
    assert asked and asked.isdisjoint(KEPT)
    assert "scene:2:dialogue" in asked
    assert max(completed_by_step(world.api.requests).values()) == 1
    assert record.status == "done" and record.delivered_message_id is not None
    posts = [
        r
        for r in world.fake.requests
        if r.files and r.payload.get("nonce") == f"sr-{record.public_id}"
    ]
    assert [p.status for p in posts] == [200]
