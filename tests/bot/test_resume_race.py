"""Resuming after a restart never writes an episode twice in one process, over the wire.

At start-up the bot resumes the episodes storage says are ``running``. A command of the new
process marks its own episode ``running`` a few awaits before it launches the job: read in
between, that episode looked like one to resume, and was written twice (the crash test showed
a step asked of the model again right after it was saved, and "Cancelled just before the end").
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest

from scriptgen.models import EpisodeRequest
from storage import EpisodeRecord, EpisodeStore
from tests.bot.harness import POST_MESSAGE, QUICK, Room, RoomFactory
from tests.bot.rooms_harness import script_post
from tests.fake_discord import RecordedRequest
from tests.scripted_provider import ScriptedProvider


async def _started(make_room: RoomFactory) -> tuple[Room, ScriptedProvider]:
    """The bot, once its own start-up resume has finished."""
    provider = ScriptedProvider(QUICK)
    room = await make_room(provider)
    assert room.bot._resuming is not None
    await room.bot._resuming
    return room, provider


async def _running(room: Room, premise: str) -> EpisodeRecord:
    """An episode storage says is being written, with no job: as a previous process left it."""
    return await room.bot.episodes.create(
        guild_id=room.guild.id,
        channel_id=room.channel.id,
        author_id=room.author.id,
        author_name="ada",
        request=EpisodeRequest(premise=premise, scene_count=1),
        provider="demo",
        model="showrunner-demo",
    )


def _resumed_statuses(room: Room) -> list[RecordedRequest]:
    """The status messages a resume posted (later edits replace their text)."""
    return [
        r
        for r in room.fake.requests
        if r.route == POST_MESSAGE and "Resumed after a restart" in json.dumps(r.payload)
    ]


async def test_a_second_resume_of_the_same_episode_is_a_no_op(make_room: RoomFactory) -> None:
    """Two resumes of one record at once: one job, one status, one outline asked."""
    room, provider = await _started(make_room)
    record = await _running(room, "The night shift finds a second night shift")
    first, second = await asyncio.gather(room.bot.jobs.resume(record), room.bot.jobs.resume(record))
    [job] = [j for j in (first, second) if j is not None]
    assert job.task is not None
    await job.task
    assert [c.kind for c in provider.history].count("outline") == 1
    assert len(_resumed_statuses(room)) == 1
    done = await room.bot.episodes.get_by_id(record.id)
    assert done is not None and done.status == "done" and done.delivered_message_id is not None


async def test_resume_all_leaves_an_episode_a_start_is_launching(
    make_room: RoomFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command creates its episode while resume_all reads what to resume: the command's
    job writes it, once; resume_all leaves it alone."""
    room, provider = await _started(make_room)
    jobs = room.bot.jobs
    real = EpisodeStore.list_unfinished
    status = await room.bot.get_partial_messageable(room.channel.id).send("status")
    command = contextlib.ExitStack()
    created: list[EpisodeRecord] = []

    async def launch(record: EpisodeRecord) -> None:
        """The rest of the command: its job is launched, then its start ends."""
        with command:
            jobs.start_on_message(record, room.channel.id, status.id)

    async def read_during_a_start(store: EpisodeStore) -> list[EpisodeRecord]:
        if not created:  # the command gets between resume_all's checks and this read
            command.enter_context(jobs.admitting(room.guild.id, room.author.id))
            created.append(await _running(room, "A fire drill during the real fire"))
            records = await real(store)
            asyncio.create_task(launch(created[0]))  # noqa: RUF006  (awaited via its job)
            return records
        return await real(store)

    monkeypatch.setattr(EpisodeStore, "list_unfinished", read_during_a_start)
    await jobs.resume_all()
    [record] = created
    job = jobs.running[record.public_id]
    assert job.task is not None
    await job.task
    await script_post(room)
    assert [c.kind for c in provider.history].count("outline") == 1
    assert _resumed_statuses(room) == []
    done = await room.bot.episodes.get_by_id(record.id)
    assert done is not None and done.status == "done"


async def test_cancel_pressed_while_an_episode_is_being_resumed_cancels_it(
    make_room: RoomFactory,
) -> None:
    """The resumed status is posted (its answer held up) before the job begins: its Cancel
    button already stops the episode."""
    room, _ = await _started(make_room)
    record = await _running(room, "The smoke alarm only goes off for compliments")
    room.fake.stall(
        lambda r: r.route == POST_MESSAGE and "Resumed after a restart" in json.dumps(r.payload),
        seconds=1.0,
    )
    resuming = asyncio.create_task(room.bot.jobs.resume(record))
    while not (statuses := _resumed_statuses(room)):
        await asyncio.sleep(0.01)
    status = room.fake.message(int(statuses[0].message_id or 0))
    [cancel] = [i for i in status.custom_ids() if i.startswith("showrunner:cancel:")]
    click = await room.fake.click_button(status, cancel, room.author)
    assert (await click.wait_for_callback()).type == 6
    job = await resuming
    assert job is not None and job.task is not None
    await job.task
    await room.fake.wait_for(
        lambda r: r.message_id == status.id and "Cancelled by ada" in json.dumps(r.payload), 5
    )
    cancelled = await room.bot.episodes.get_by_id(record.id)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert record.public_id not in room.bot.jobs.running
