"""The real bot as a gateway: its episodes are workflows on a worker, followed, cancelled,
left running over a graceful stop, and failed with the message a writer sees in-process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route
from temporalio.client import Client, WorkflowExecutionStatus

from bot.__main__ import build_bot, build_generator
from bot.client import ShowrunnerBot
from scriptgen.errors import ProviderError, ScriptgenError
from scriptgen.generator import ScriptGenerator
from scriptgen.models import EpisodeRequest
from scriptgen.providers.base import Generation, OutputT, StepRequest
from scriptgen.temporal import StepActivities, episode_worker, rewrite_workflow_id, workflow_id
from storage import Database, SqliteCheckpoints
from tests.bot.harness import POST_MESSAGE, PREMISE, Room, description, make_settings
from tests.bot.rooms_harness import command, files_of, script_post
from tests.fake_discord import (
    MANAGE_MESSAGES,
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    FakeUser,
)
from tests.scripted_provider import ScriptedProvider


@pytest.fixture
def _discord_urls() -> Iterator[None]:
    old = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    yield
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old


class Gateway:
    """A fake Discord with one room, where bots are started as ``showrunner`` does with
    ``SHOWRUNNER_TEMPORAL_ADDRESS`` set, and one worker in this process serving them."""

    def __init__(self, fake: FakeDiscord, client: Client, task_queue: str, folder: Path) -> None:
        self.fake, self.client, self.task_queue, self.folder = fake, client, task_queue, folder
        self.guild: FakeGuild = fake.add_guild("Writers' Room")
        self.channel: FakeChannel = self.guild.add_text_channel("episodes")
        self.author: FakeUser = self.guild.add_member("ada")
        self.other: FakeUser = self.guild.add_member("bo")
        self.moderator: FakeUser = self.guild.add_member("mod", permissions=MANAGE_MESSAGES)

    def room(self, bot: ShowrunnerBot, provider: ScriptedProvider) -> Room:
        """The bot tests' view of it (their helpers take a room)."""
        return Room(
            self.fake,
            self.guild,
            self.channel,
            self.author,
            self.other,
            self.moderator,
            bot,
            bot.db,
            provider,
        )

    @asynccontextmanager
    async def bot(self, provider: ScriptedProvider | None = None) -> AsyncIterator[ShowrunnerBot]:
        """The gateway; ``provider`` stands for the workers' (whose model it estimates by)."""
        settings = make_settings(
            self.folder,
            self.fake,
            dev_guild_id=self.guild.id,
            temporal_address="unused: the client is given",
            temporal_task_queue=self.task_queue,
            temporal_heartbeat_timeout=2,
        )
        async with await Database.open(settings.database) as db:
            generator = build_generator(settings, provider)
            bot = build_bot(settings, db, generator, self.client, guild_ready_timeout=0.05)
            task = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()))
            try:
                await asyncio.wait_for(bot.wait_until_ready(), 10)
                yield bot
            finally:
                await bot.close()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(task, 5)

    @asynccontextmanager
    async def worker(self, provider: ScriptedProvider) -> AsyncIterator[None]:
        async with await Database.open(self.folder / "showrunner.db") as db:
            activities = StepActivities(
                provider, lambda e, p: SqliteCheckpoints(db, e, p), heartbeat_every=0.2
            )
            async with episode_worker(self.client, activities, task_queue=self.task_queue):
                yield

    async def new_episode(self) -> tuple[FakeInteraction, FakeMessage, str]:
        """``/episode`` by the author: its interaction, its status message (once it has a
        Cancel button), and the episode's public id."""
        inter = await self.fake.invoke_slash_command(
            self.guild, self.channel, self.author, "episode", {"premise": PREMISE, "scenes": 2}
        )
        status = await inter.wait_for_original_edit(lambda m: bool(m.components), 10)
        cancel = next(c for c in status.custom_ids() if c.startswith("showrunner:cancel:"))
        return inter, status, cancel.removeprefix("showrunner:cancel:")

    async def wait_for_status(self, public_id: str, status: WorkflowExecutionStatus) -> None:
        handle = self.client.get_workflow_handle(workflow_id(public_id))
        for _ in range(200):
            with contextlib.suppress(Exception):
                if (await handle.describe()).status is status:
                    return
            await asyncio.sleep(0.05)
        raise AssertionError(f"workflow of {public_id} never {status.name}")


class FailingScene(ScriptedProvider):
    """Scene 2's dialogue fails at once; every other call as scripted."""

    async def generate(self, step: StepRequest[OutputT]) -> Generation[OutputT]:
        if step.key == "scene:2:dialogue":
            raise ProviderError("the model is overloaded; try again later", retryable=False)
        return await super().generate(step)


@pytest.fixture
async def gateway(
    _discord_urls: None, client: Client, task_queue: str, tmp_path: Path
) -> AsyncIterator[Gateway]:
    async with FakeDiscord(bot_token="test-token", heartbeat_interval_ms=500) as fake:
        yield Gateway(fake, client, task_queue, tmp_path)


async def test_cancel_button_cancels_the_workflow(gateway: Gateway) -> None:
    provider = ScriptedProvider({"dialogue": 30.0})
    async with gateway.worker(provider), gateway.bot() as bot:
        inter, status, public_id = await gateway.new_episode()
        await gateway.wait_for_status(public_id, WorkflowExecutionStatus.RUNNING)
        while not provider.in_flight:
            await asyncio.sleep(0.02)
        cancel = f"showrunner:cancel:{public_id}"
        await gateway.fake.click_button(status, cancel, gateway.author)
        await gateway.wait_for_status(public_id, WorkflowExecutionStatus.CANCELED)
        final = await inter.wait_for_original_edit(
            lambda m: "Cancelled by ada" in description(m), 5
        )
        assert final.custom_ids() == []
        record = await bot.episodes.get(gateway.guild.id, public_id)
        assert record is not None and record.status == "cancelled"
    # The worker's calls learnt it from their heartbeats and stopped.
    assert all(call.ended is not None for call in provider.history)
    assert any(call.cancelled for call in provider.history)


async def test_a_graceful_stop_leaves_the_workflow_running_for_the_next_gateway(
    gateway: Gateway,
) -> None:
    provider = ScriptedProvider({"dialogue": 1.0})
    async with gateway.worker(provider):
        async with gateway.bot():
            inter, _, public_id = await gateway.new_episode()
            while not provider.in_flight:
                await asyncio.sleep(0.02)
        # The gateway is gone, its status says so; the worker writes on.
        await inter.wait_for_original_edit(lambda m: "Paused" in description(m), 5)
        handle = gateway.client.get_workflow_handle(workflow_id(public_id))
        assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
        async with gateway.bot() as bot:
            record = None
            for _ in range(200):
                record = await bot.episodes.get(gateway.guild.id, public_id)
                if record is not None and record.delivered_message_id is not None:
                    break
                await asyncio.sleep(0.05)
    assert record is not None and record.status == "done"
    posts = [m for m in gateway.fake.messages(gateway.channel) if m.nonce == f"sr-{public_id}"]
    assert len(posts) == 1 and posts[0].id == record.delivered_message_id
    # Each step asked of the model once, over both gateways.
    keys = [call.key for call in provider.history]
    assert len(keys) == len(set(keys))


async def test_a_failed_workflow_tells_the_writer_what_the_process_would(
    gateway: Gateway,
) -> None:
    """Scene 2 fails while scene 1, begun first, is in flight: it is scene 2's failure the
    writer is told, not the cancellation of scene 1 it causes."""

    def failing() -> ScriptedProvider:
        return FailingScene({"dialogue": 5.0})

    request = EpisodeRequest(premise=PREMISE, scene_count=2)
    with pytest.raises(ScriptgenError) as in_process:
        await ScriptGenerator(failing()).generate_full_script(request)
    async with gateway.worker(failing()), gateway.bot() as bot:
        inter, _, public_id = await gateway.new_episode()
        await gateway.wait_for_status(public_id, WorkflowExecutionStatus.FAILED)
        told = str(in_process.value)
        try:
            await inter.wait_for_original_edit(lambda m: told in description(m), 5)
        except TimeoutError:
            original = inter.original
            raise AssertionError(description(original) if original else "no original") from None
        record = await bot.episodes.get(gateway.guild.id, public_id)
    assert record is not None and record.status == "failed"
    assert record.error == told and "scene 2" in told.lower()


async def test_a_note_is_rewritten_by_the_rewrite_workflow(gateway: Gateway) -> None:
    """The scene's new take is written on the worker (its provider), and posted as v2."""
    provider = ScriptedProvider()
    async with gateway.worker(provider), gateway.bot() as bot:
        room = gateway.room(bot, provider)
        inter, _, public_id = await gateway.new_episode()
        await inter.wait_for_original_edit(lambda m: "Script posted" in description(m), 20)
        since = room.fake.requests.filter("POST", POST_MESSAGE)[-1].timestamp
        written = len(provider.history)
        await command(
            room, room.author, "notes", {"episode": public_id, "scene": 2, "notes": "louder"}
        )
        posted = await script_post(room, since=since + 0.001)
        [rewrite] = await bot.db.fetchall("SELECT public_id, status FROM rewrites")
    [name] = files_of(posted)
    assert name.endswith(" v2.fountain")
    assert sorted(call.key for call in provider.history[written:]) == [
        "take:1:scene:2:dialogue",
        "take:1:scene:2:directions",
    ]
    handle = gateway.client.get_workflow_handle(rewrite_workflow_id(rewrite["public_id"]))
    assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED


async def test_a_workflow_episode_settles_its_reservation_to_what_the_workers_spent(
    gateway: Gateway,
) -> None:
    """The gateway reserves the estimate; the workers' calls land in the ledger; once the
    script is posted the reservation is settled and the month counts the ledger's cost."""
    priced = "claude-sonnet-4-5"
    provider = ScriptedProvider(model=priced)
    async with gateway.worker(provider), gateway.bot(ScriptedProvider(model=priced)) as bot:
        budgets = bot.spending.budgets
        await budgets.set_monthly(gateway.guild.id, 50.0, "test")
        inter, _, public_id = await gateway.new_episode()
        record = await bot.episodes.get(gateway.guild.id, public_id)
        assert record is not None
        reserved = await budgets.open_for(episode_id=record.id)
        assert reserved is not None and reserved.amount_usd > 0
        await inter.wait_for_original_edit(lambda m: "Script posted" in description(m), 20)
        for _ in range(100):  # settled after the final status edit
            if await budgets.open_for(episode_id=record.id) is None:
                break
            await asyncio.sleep(0.05)
        settled = await budgets.get(reserved.id)
        month = record.created_at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        spent = await budgets.spent(gateway.guild.id, month)
        held = await budgets.held(gateway.guild.id, bot.db.now())
    assert settled is not None and not settled.is_open
    assert 0 < spent < reserved.amount_usd
    assert held == 0
    assert len(provider.history) >= 6  # every call the worker made is in what was spent
