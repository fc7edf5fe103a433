"""EpisodeStore: round-trips, guild scoping, limits, resume queries and status transitions."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from scriptgen.models import CallUsage, EpisodeRequest, Script
from storage import (
    REVIEW_EXPIRED_BY,
    Database,
    EpisodeLimitReached,
    EpisodeRecord,
    EpisodeStore,
    SqliteCheckpoints,
    StorageError,
    normalize_public_id,
)
from tests.storage.conftest import FakeClock

NewEpisode = Callable[..., Awaitable[EpisodeRecord]]
MakeScript = Callable[[EpisodeRequest], Script]


async def test_create_then_get_round_trips_every_field(
    episodes: EpisodeStore, new_episode: NewEpisode, request_: EpisodeRequest
) -> None:
    """What create returns is what get finds, request JSON parsed back to the same model."""
    created = await new_episode(author_name="Maya R.")
    found = await episodes.get(created.guild_id, created.public_id)
    assert found is not None
    assert found == created
    assert found.request == request_
    assert (found.status, found.title, found.script, found.totals) == ("running", None, None, None)
    assert (found.author_name, found.provider, found.model) == ("Maya R.", "demo", "demo-1")


async def test_public_id_is_short_and_typeable(new_episode: NewEpisode) -> None:
    """Public ids look like ep-7f3k2, without look-alike characters, and differ per episode."""
    ids = {(await new_episode()).public_id for _ in range(20)}
    assert len(ids) == 20
    for public_id in ids:
        assert re.fullmatch(r"ep-[2-9a-hjkmnp-z]{5}", public_id)


async def test_get_forgives_case_spaces_and_missing_prefix(
    episodes: EpisodeStore, new_episode: NewEpisode
) -> None:
    """Writers may type ' EP-ABCDE ' or just 'abcde'."""
    created = await new_episode()
    bare = created.public_id.removeprefix("ep-")
    for typed in (f"  {created.public_id.upper()} ", bare, bare.upper()):
        found = await episodes.get(created.guild_id, typed)
        assert found is not None
        assert found.id == created.id


async def test_get_with_another_guilds_id_is_none(
    episodes: EpisodeStore, new_episode: NewEpisode
) -> None:
    """An episode id typed in a different guild finds nothing: episodes never leak."""
    created = await new_episode(guild_id=1)
    assert await episodes.get(2, created.public_id) is None


async def test_get_unknown_or_malformed_id_is_none(episodes: EpisodeStore) -> None:
    """Ids that do not exist, or cannot exist, are None rather than errors."""
    assert await episodes.get(1, "ep-zzzzz") is None
    assert await episodes.get(1, "'; DROP TABLE episodes; --") is None
    assert await episodes.get(1, "") is None


async def test_get_by_id_finds_any_guilds_episode(
    episodes: EpisodeStore, new_episode: NewEpisode
) -> None:
    """The internal lookup is by row id alone, for the bot's own bookkeeping."""
    created = await new_episode(guild_id=7)
    assert await episodes.get_by_id(created.id) == created
    assert await episodes.get_by_id(created.id + 1000) is None


async def test_finish_stores_the_script(
    episodes: EpisodeStore, new_episode: NewEpisode, make_script: MakeScript
) -> None:
    """A finished episode reads back with the same Script, its title, and done status."""
    created = await new_episode()
    script = make_script(created.request)
    assert await episodes.finish(created.id, script)
    found = await episodes.get(created.guild_id, created.public_id)
    assert found is not None
    assert found.script == script
    assert (found.status, found.title) == ("done", "The Espresso Incident")
    assert found.finished_at is not None


async def test_list_recent_is_newest_first_and_guild_scoped(
    episodes: EpisodeStore, new_episode: NewEpisode, advance_clock: Callable[[float], None]
) -> None:
    """A guild's list holds only its episodes, the newest first, up to the limit."""
    ours = []
    for n in range(4):
        ours.append(await new_episode(guild_id=1))
        await new_episode(guild_id=2, author_name=f"other {n}")
        advance_clock(1)
    recent = await episodes.list_recent(1, limit=3)
    assert [e.public_id for e in recent] == [e.public_id for e in reversed(ours)][:3]
    assert recent[0].created_at > recent[1].created_at


async def test_running_for_author_and_count_running(
    episodes: EpisodeStore, new_episode: NewEpisode, make_script: MakeScript
) -> None:
    """Only unfinished episodes count, per author and per guild."""
    first = await new_episode(guild_id=1, author_id=10)
    second = await new_episode(guild_id=1, author_id=10)
    await new_episode(guild_id=1, author_id=11)
    await new_episode(guild_id=2, author_id=10)
    await episodes.finish(first.id, make_script(first.request))
    assert [e.id for e in await episodes.running_for_author(1, 10)] == [second.id]
    assert await episodes.count_running(1) == 2
    assert await episodes.count_running(3) == 0


async def test_author_limit_is_enforced_at_creation(new_episode: NewEpisode) -> None:
    """The author limit refuses a third episode while two are unfinished."""
    await new_episode(max_unfinished_per_author=2)
    await new_episode(max_unfinished_per_author=2)
    with pytest.raises(EpisodeLimitReached) as err:
        await new_episode(max_unfinished_per_author=2)
    assert (err.value.scope, err.value.limit, err.value.running) == ("author", 2, 2)


async def test_guild_limit_is_enforced_at_creation(new_episode: NewEpisode) -> None:
    """The guild limit counts every author's unfinished episodes."""
    await new_episode(author_id=1, max_unfinished_per_guild=1)
    with pytest.raises(EpisodeLimitReached, match="this server"):
        await new_episode(author_id=2, max_unfinished_per_guild=1)


async def test_concurrent_creates_cannot_exceed_the_limit(
    episodes: EpisodeStore, new_episode: NewEpisode
) -> None:
    """Ten simultaneous /episode commands from one writer with limit 2 create exactly 2."""
    results = await asyncio.gather(
        *(new_episode(max_unfinished_per_author=2) for _ in range(10)), return_exceptions=True
    )
    created = [r for r in results if isinstance(r, EpisodeRecord)]
    refused = [r for r in results if isinstance(r, EpisodeLimitReached)]
    assert (len(created), len(refused)) == (2, 8)
    assert len(await episodes.running_for_author(created[0].guild_id, created[0].author_id)) == 2


async def test_list_unfinished_survives_a_restart(
    db_target: str | Path, new_episode: NewEpisode, episodes: EpisodeStore, make_script: MakeScript
) -> None:
    """A new Database on the same file finds the running episodes, oldest first."""
    a = await new_episode(guild_id=1)
    b = await new_episode(guild_id=2)
    done = await new_episode(guild_id=1)
    await episodes.finish(done.id, make_script(done.request))
    async with await Database.open(db_target) as restarted:
        unfinished = await EpisodeStore(restarted).list_unfinished()
    assert [e.id for e in unfinished] == [a.id, b.id]


async def test_list_unfinished_for_some_guilds(
    episodes: EpisodeStore, new_episode: NewEpisode
) -> None:
    """A shard resumes only the episodes of the guilds it serves."""
    await new_episode(guild_id=1)
    b = await new_episode(guild_id=2)
    c = await new_episode(guild_id=3)
    assert [e.id for e in await episodes.list_unfinished(guild_ids={2, 3})] == [b.id, c.id]
    assert await episodes.list_unfinished(guild_ids=[]) == []


async def test_list_undelivered_finds_done_but_unposted(
    episodes: EpisodeStore, new_episode: NewEpisode, make_script: MakeScript
) -> None:
    """A script finished just before a crash is found again, until marked delivered."""
    created = await new_episode()
    await episodes.finish(created.id, make_script(created.request))
    assert [e.id for e in await episodes.list_undelivered()] == [created.id]
    await episodes.mark_delivered(created.id, 555)
    assert await episodes.list_undelivered() == []


async def test_status_message_is_remembered(
    episodes: EpisodeStore, new_episode: NewEpisode
) -> None:
    """The live status message's channel and id are stored for a restarted bot to edit."""
    created = await new_episode()
    assert await episodes.set_status_message(created.id, 777, 888)
    found = await episodes.get_by_id(created.id)
    assert found is not None
    assert (found.status_channel_id, found.status_message_id) == (777, 888)


async def test_set_title(episodes: EpisodeStore, new_episode: NewEpisode) -> None:
    """The outline's title is stored and shown as the display title."""
    created = await new_episode()
    assert created.display_title.startswith("Maya's espresso machine")
    assert await episodes.set_title(created.id, "Bean There")
    found = await episodes.get_by_id(created.id)
    assert found is not None
    assert (found.title, found.display_title) == ("Bean There", "Bean There")
    assert not await episodes.set_title(created.id + 1000, "nobody")


async def test_updates_stamp_updated_at(
    episodes: EpisodeStore, new_episode: NewEpisode, advance_clock: Callable[[float], None]
) -> None:
    """Every change moves updated_at and leaves created_at."""
    created = await new_episode()
    advance_clock(30)
    await episodes.set_title(created.id, "Later")
    found = await episodes.get_by_id(created.id)
    assert found is not None
    assert found.created_at == created.created_at
    assert (found.updated_at - created.created_at).total_seconds() == 30


# -- status transitions ----------------------------------------------------------------------


async def test_fail_keeps_the_error(episodes: EpisodeStore, new_episode: NewEpisode) -> None:
    """running → failed records the error and the end time."""
    created = await new_episode()
    assert await episodes.fail(created.id, "scene 2's dialogue failed: overloaded")
    found = await episodes.get_by_id(created.id)
    assert found is not None
    assert (found.status, found.error) == ("failed", "scene 2's dialogue failed: overloaded")
    assert found.finished


async def test_cancel_records_who(episodes: EpisodeStore, new_episode: NewEpisode) -> None:
    """running → cancelled records who pressed Cancel."""
    created = await new_episode()
    assert await episodes.cancel(created.id, "maya")
    found = await episodes.get_by_id(created.id)
    assert found is not None
    assert (found.status, found.cancelled_by) == ("cancelled", "maya")


async def test_finish_after_cancel_is_refused(
    episodes: EpisodeStore, new_episode: NewEpisode, make_script: MakeScript
) -> None:
    """Cancel wins over a generation that finished a moment later: no script is stored."""
    created = await new_episode()
    await episodes.cancel(created.id, "maya")
    assert not await episodes.finish(created.id, make_script(created.request))
    found = await episodes.get_by_id(created.id)
    assert found is not None
    assert (found.status, found.script) == ("cancelled", None)


async def test_cancel_after_done_is_refused(
    episodes: EpisodeStore, new_episode: NewEpisode, make_script: MakeScript
) -> None:
    """A late Cancel press cannot undo a finished episode."""
    created = await new_episode()
    await episodes.finish(created.id, make_script(created.request))
    assert not await episodes.cancel(created.id, "maya")
    assert not await episodes.fail(created.id, "too late")
    found = await episodes.get_by_id(created.id)
    assert found is not None
    assert (found.status, found.cancelled_by, found.error) == ("done", None, None)


async def test_mark_delivered_only_once(
    episodes: EpisodeStore, new_episode: NewEpisode, make_script: MakeScript
) -> None:
    """Only the first delivery is recorded: a second poster learns it must not post."""
    created = await new_episode()
    await episodes.finish(created.id, make_script(created.request))
    assert await episodes.mark_delivered(created.id, 1)
    assert not await episodes.mark_delivered(created.id, 2)
    found = await episodes.get_by_id(created.id)
    assert found is not None
    assert found.delivered_message_id == 1


async def test_mark_delivered_requires_done(
    episodes: EpisodeStore, new_episode: NewEpisode
) -> None:
    """An episode without a script cannot be marked delivered."""
    created = await new_episode()
    assert not await episodes.mark_delivered(created.id, 1)


async def test_requeue_failed_episode(episodes: EpisodeStore, new_episode: NewEpisode) -> None:
    """failed → running clears the error and end time; running cannot be requeued."""
    created = await new_episode()
    assert not await episodes.requeue(created.id)
    await episodes.fail(created.id, "overloaded")
    assert await episodes.requeue(created.id)
    found = await episodes.get_by_id(created.id)
    assert found is not None
    assert (found.status, found.error, found.finished_at, found.totals) == (
        "running",
        None,
        None,
        None,
    )


async def test_finish_snapshots_ledger_totals(
    db: Database, episodes: EpisodeStore, new_episode: NewEpisode, make_script: MakeScript
) -> None:
    """totals on the record sum every saved call, even ones the final script does not list."""
    created = await new_episode()
    checkpoints = SqliteCheckpoints(db, created.id)
    await checkpoints.save(
        "outline",
        created.request,
        CallUsage(step="outline", model="m", input_tokens=100, output_tokens=10),
    )
    await checkpoints.save(
        "scene:1:dialogue",
        created.request,
        CallUsage(step="scene:1:dialogue", model="m", input_tokens=5, output_tokens=50),
    )
    await episodes.finish(created.id, make_script(created.request))
    found = await episodes.get_by_id(created.id)
    assert found is not None
    assert found.totals is not None
    assert (found.totals.calls, found.totals.input_tokens, found.totals.output_tokens) == (
        2,
        105,
        60,
    )


async def test_long_error_is_truncated(episodes: EpisodeStore, new_episode: NewEpisode) -> None:
    """A huge error message (a provider's HTML page) is bounded."""
    created = await new_episode()
    await episodes.fail(created.id, "x" * 100_000)
    found = await episodes.get_by_id(created.id)
    assert found is not None
    assert found.error is not None
    assert len(found.error) == 2000


async def test_unreadable_stored_json_is_a_storage_error(
    db: Database, episodes: EpisodeStore, new_episode: NewEpisode
) -> None:
    """JSON a newer scriptgen model rejects names the episode instead of a pydantic trace."""
    created = await new_episode()
    async with db.transaction() as tx:
        await tx.execute(
            'UPDATE episodes SET request = \'{"premise": "x", "removed_field": 1}\' WHERE id = ?',
            (created.id,),
        )
    with pytest.raises(StorageError, match=f"episode {created.public_id} holds JSON"):
        await episodes.get_by_id(created.id)


def test_normalize_public_id() -> None:
    """Normalisation accepts our alphabet only, in any case, with or without the prefix."""
    assert normalize_public_id(" EP-7F3K2 ") == "ep-7f3k2"
    assert normalize_public_id("7f3k2") == "ep-7f3k2"
    assert normalize_public_id("ep-0o1li") is None
    assert normalize_public_id("ep-7f3k2-extra") is None


# -- outlines in review (queued) ---------------------------------------------------------------


async def test_review_creates_a_queued_episode(
    episodes: EpisodeStore, new_episode: NewEpisode
) -> None:
    """review=True waits for the writers: listed in review, not resumed as running."""
    queued = await new_episode(review=True)
    running = await new_episode()
    assert (queued.status, queued.in_review, queued.finished, queued.room_id) == (
        "queued",
        True,
        False,
        None,
    )
    assert [e.id for e in await episodes.list_in_review()] == [queued.id]
    assert [e.id for e in await episodes.list_unfinished()] == [running.id]


async def test_start_writing_once(episodes: EpisodeStore, new_episode: NewEpisode) -> None:
    """queued → running happens once; a second press, or a running episode, is False."""
    queued = await new_episode(review=True)
    assert await episodes.start_writing(queued.id)
    assert not await episodes.start_writing(queued.id)
    assert not await episodes.start_writing((await new_episode()).id)
    found = await episodes.get_by_id(queued.id)
    assert found is not None
    assert found.status == "running"
    assert await episodes.list_in_review() == []


async def test_set_request_only_while_queued(
    episodes: EpisodeStore,
    new_episode: NewEpisode,
    request_: EpisodeRequest,
    make_script: MakeScript,
) -> None:
    """The request with the writers' outline is stored while in review, refused once started."""
    queued = await new_episode(review=True)
    outline = make_script(request_).outline
    edited = EpisodeRequest(premise=request_.premise, outline=outline)
    assert await episodes.set_request(queued.id, edited)
    found = await episodes.get_by_id(queued.id)
    assert found is not None
    assert (found.request, found.request.outline, found.status) == (edited, outline, "queued")
    await episodes.start_writing(queued.id)
    assert not await episodes.set_request(queued.id, request_)
    found = await episodes.get_by_id(queued.id)
    assert found is not None
    assert found.request == edited


async def test_cancel_from_review(episodes: EpisodeStore, new_episode: NewEpisode) -> None:
    """An outline in review can be cancelled, and then cannot start."""
    queued = await new_episode(review=True)
    assert await episodes.cancel(queued.id, "maya")
    assert not await episodes.start_writing(queued.id)


async def test_queued_episodes_count_against_limits(new_episode: NewEpisode) -> None:
    """An outline in review is an unfinished episode for the author limit."""
    await new_episode(review=True, max_unfinished_per_author=1)
    with pytest.raises(EpisodeLimitReached):
        await new_episode(max_unfinished_per_author=1)


async def test_expire_reviews_cancels_only_old_untouched_outlines(
    episodes: EpisodeStore,
    new_episode: NewEpisode,
    request_: EpisodeRequest,
    advance_clock: Callable[[float], None],
    clock: FakeClock,
) -> None:
    """Outlines untouched since the cut-off are cancelled and returned; edited ones stay."""
    old = await new_episode(review=True)
    edited = await new_episode(review=True)
    running = await new_episode()
    advance_clock(20 * 3600)
    await episodes.set_request(edited.id, request_)
    advance_clock(5 * 3600)
    expired = await episodes.expire_reviews(clock.current - timedelta(hours=24))
    assert [(e.id, e.status, e.cancelled_by) for e in expired] == [
        (old.id, "cancelled", REVIEW_EXPIRED_BY)
    ]
    assert expired[0].finished_at == clock.current
    assert [e.id for e in await episodes.list_in_review()] == [edited.id]
    found = await episodes.get_by_id(running.id)
    assert found is not None
    assert found.status == "running"
    assert await episodes.expire_reviews(clock.current - timedelta(hours=24)) == []
