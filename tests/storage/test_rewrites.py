"""RewriteStore: rewrites as durable jobs, one per scene at a time, votes, and revisions."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import pytest

from scriptgen.models import Action, CallUsage, Scene, Script
from storage import (
    Database,
    EpisodeRecord,
    EpisodeStore,
    RewriteRecord,
    RewriteStore,
    SceneBusy,
    SqliteCheckpoints,
    WriteRefused,
    normalize_rewrite_id,
)
from tests.storage.conftest import CHANNEL, GUILD, build_script

NewEpisode = Callable[..., Awaitable[EpisodeRecord]]
WRITER = 666_666_666_666_666_666


@pytest.fixture
def rewrites(db: Database) -> RewriteStore:
    return RewriteStore(db)


@pytest.fixture
async def episode(episodes: EpisodeStore, new_episode: NewEpisode) -> EpisodeRecord:
    """A finished episode of three scenes."""
    created = await new_episode()
    script = build_script(created.request)
    script = script.model_copy(update={"scenes": script.scenes * 3})
    assert await episodes.finish(created.id, script)
    found = await episodes.get_by_id(created.id)
    assert found is not None
    return found


NewRewrite = Callable[..., Awaitable[RewriteRecord]]


@pytest.fixture
def new_rewrite(rewrites: RewriteStore, episode: EpisodeRecord) -> NewRewrite:
    async def create(**overrides: object) -> RewriteRecord:
        fields: dict[str, object] = {
            "episode": episode,
            "scene": 2,
            "note": "Make the machine angrier.",
            "takes": 1,
            "author_id": WRITER,
            "author_name": "Bo",
        }
        fields.update(overrides)
        return await rewrites.create(**fields)  # type: ignore[arg-type]

    return create


def rewritten(script: Script, index: int, text: str) -> Script:
    """The script with scene ``index`` (0-based) replaced by one action."""
    scenes = list(script.scenes)
    scenes[index] = Scene(heading=scenes[index].heading, elements=[Action(text=text)])
    return script.model_copy(update={"scenes": scenes})


# -- creating and finding ----------------------------------------------------------------------


async def test_create_then_get_round_trips(
    rewrites: RewriteStore, new_rewrite: NewRewrite, episode: EpisodeRecord
) -> None:
    """A new rewrite is running, with its note, takes and author, found by its public id."""
    created = await new_rewrite(takes=3, note="  Funnier.  ")
    assert re.fullmatch(r"rw-[2-9a-hjkmnp-z]{5}", created.public_id)
    assert (created.status, created.scene, created.takes, created.note) == (
        "running",
        2,
        3,
        "Funnier.",
    )
    assert (created.episode_id, created.guild_id, created.channel_id) == (
        episode.id,
        GUILD,
        CHANNEL,
    )
    assert await rewrites.get(GUILD, created.public_id.upper()) == created
    assert await rewrites.get_by_id(created.id) == created


async def test_get_is_guild_scoped(rewrites: RewriteStore, new_rewrite: NewRewrite) -> None:
    """A rewrite id typed in another guild, or an episode id, finds nothing."""
    created = await new_rewrite()
    assert await rewrites.get(GUILD + 1, created.public_id) is None
    assert await rewrites.get(GUILD, "ep-" + created.public_id[3:]) is None


async def test_channel_may_differ_from_the_episodes(new_rewrite: NewRewrite) -> None:
    """A note given in a thread keeps that thread as the rewrite's channel."""
    assert (await new_rewrite(channel_id=42)).channel_id == 42


async def test_a_busy_scene_is_refused(rewrites: RewriteStore, new_rewrite: NewRewrite) -> None:
    """A second note on a scene being rewritten is SceneBusy, naming the first rewrite."""
    first = await new_rewrite()
    with pytest.raises(SceneBusy, match=f"scene 2 is being rewritten \\({first.public_id}\\)"):
        await new_rewrite()
    assert (await new_rewrite(scene=3)).scene == 3
    assert await rewrites.to_voting(first.id)
    with pytest.raises(SceneBusy, match="up for a vote") as err:
        await new_rewrite()
    assert isinstance(err.value, WriteRefused)


async def test_a_scene_is_free_again_once_its_rewrite_ends(
    rewrites: RewriteStore, new_rewrite: NewRewrite
) -> None:
    """After a cancel, the scene takes a new note."""
    first = await new_rewrite()
    assert await rewrites.cancel(first.id, "Bo")
    assert (await new_rewrite()).id != first.id


async def test_concurrent_notes_on_one_scene_make_one_rewrite(new_rewrite: NewRewrite) -> None:
    """Five notes on one scene at once: one rewrite, four SceneBusy."""
    results = await asyncio.gather(*(new_rewrite() for _ in range(5)), return_exceptions=True)
    assert sum(isinstance(r, RewriteRecord) for r in results) == 1
    assert sum(isinstance(r, SceneBusy) for r in results) == 4


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"scene": 4}, "scenes 1 to 3, not 4"),
        ({"scene": 0}, "scenes 1 to 3, not 0"),
        ({"takes": 4}, "1 to 3 takes"),
        ({"note": "   "}, "needs a note"),
    ],
)
async def test_bad_arguments_are_refused(
    new_rewrite: NewRewrite, overrides: dict[str, object], message: str
) -> None:
    """A scene the episode lacks, too many takes, or a blank note: ValueError."""
    with pytest.raises(ValueError, match=message):
        await new_rewrite(**overrides)


async def test_an_episode_without_a_script_cannot_be_rewritten(
    new_rewrite: NewRewrite, new_episode: NewEpisode
) -> None:
    """A running episode has nothing to rewrite yet."""
    with pytest.raises(ValueError, match="no script yet"):
        await new_rewrite(episode=await new_episode())


def test_normalize_rewrite_id() -> None:
    """rw- ids normalise like episode ids; an ep- id is not a rewrite id."""
    assert normalize_rewrite_id(" RW-7F3K2 ") == "rw-7f3k2"
    assert normalize_rewrite_id("7f3k2") == "rw-7f3k2"
    assert normalize_rewrite_id("ep-7f3k2") is None
    assert normalize_rewrite_id("rw-0o1li") is None


# -- transitions -------------------------------------------------------------------------------


async def test_complete_makes_revision_two_then_three(
    rewrites: RewriteStore, new_rewrite: NewRewrite, episode: EpisodeRecord
) -> None:
    """Each completed rewrite stores the next revision, with its note and scene."""
    assert episode.script is not None
    first = await new_rewrite(scene=1)
    second = await new_rewrite(scene=3)
    v2 = rewritten(episode.script, 0, "Angrier.")
    assert await rewrites.complete(first.id, v2, chosen_take=None, chosen_by=None) == 2
    v3 = rewritten(v2, 2, "Calmer.")
    assert await rewrites.complete(second.id, v3, chosen_take=None, chosen_by=None) == 3
    latest = await rewrites.latest_revision(episode)
    assert (latest.number, latest.scene, latest.script) == (3, 3, v3)
    assert (latest.rewrite_id, latest.author_name, latest.note) == (
        second.id,
        "Bo",
        "Make the machine angrier.",
    )
    done = await rewrites.get_by_id(first.id)
    assert done is not None
    assert (done.status, done.revision) == ("done", 2)


async def test_rewrites_of_two_scenes_ending_together_keep_both(
    rewrites: RewriteStore, new_rewrite: NewRewrite, episode: EpisodeRecord
) -> None:
    """Both built on v1: v3 has scene 1 from the first and scene 3 from the second."""
    assert episode.script is not None
    first = await new_rewrite(scene=1)
    second = await new_rewrite(scene=3)
    base = (await rewrites.latest_revision(episode)).script
    one = rewritten(base, 0, "Angrier.")
    three = rewritten(base, 2, "Calmer.")
    assert await rewrites.complete(first.id, one, chosen_take=None, chosen_by=None) == 2
    assert await rewrites.complete(second.id, three, chosen_take=None, chosen_by=None) == 3
    v3 = (await rewrites.latest_revision(episode)).script
    assert v3.scenes == [one.scenes[0], base.scenes[1], three.scenes[2]]


async def test_complete_refuses_a_script_of_another_length(
    rewrites: RewriteStore, new_rewrite: NewRewrite, episode: EpisodeRecord
) -> None:
    """A revision must have the episode's scenes: one scene fewer is a ValueError."""
    assert episode.script is not None
    created = await new_rewrite()
    short = episode.script.model_copy(update={"scenes": episode.script.scenes[:2]})
    with pytest.raises(ValueError, match="replaces one scene"):
        await rewrites.complete(created.id, short, chosen_take=None, chosen_by=None)
    found = await rewrites.get_by_id(created.id)
    assert found is not None
    assert found.status == "running"


async def test_complete_after_cancel_is_refused(
    rewrites: RewriteStore, new_rewrite: NewRewrite, episode: EpisodeRecord
) -> None:
    """Cancel wins over a take finished a moment later: no revision is stored."""
    assert episode.script is not None
    created = await new_rewrite()
    assert await rewrites.cancel(created.id, "Maya")
    assert (
        await rewrites.complete(created.id, episode.script, chosen_take=None, chosen_by=None)
        is None
    )
    assert [r.number for r in await rewrites.list_revisions(episode)] == [1]
    found = await rewrites.get_by_id(created.id)
    assert found is not None
    assert (found.status, found.cancelled_by, found.revision) == ("cancelled", "Maya", None)


async def test_complete_twice_makes_one_revision(
    rewrites: RewriteStore, new_rewrite: NewRewrite, episode: EpisodeRecord
) -> None:
    """Two presses ending the same vote: the second gets None."""
    assert episode.script is not None
    created = await new_rewrite(takes=2)
    await rewrites.to_voting(created.id)
    results = await asyncio.gather(
        rewrites.complete(created.id, episode.script, chosen_take=1, chosen_by="Maya"),
        rewrites.complete(created.id, episode.script, chosen_take=2, chosen_by="the vote"),
    )
    assert sorted(results, key=str) == [2, None]
    assert len(await rewrites.list_revisions(episode)) == 2


async def test_complete_records_the_chosen_take(
    rewrites: RewriteStore, new_rewrite: NewRewrite, episode: EpisodeRecord
) -> None:
    """The take kept, and who chose it, are on the record."""
    assert episode.script is not None
    created = await new_rewrite(takes=3)
    await rewrites.to_voting(created.id)
    await rewrites.complete(created.id, episode.script, chosen_take=3, chosen_by="the vote")
    found = await rewrites.get_by_id(created.id)
    assert found is not None
    assert (found.chosen_take, found.chosen_by) == (3, "the vote")


async def test_complete_refuses_a_take_it_lacks(
    rewrites: RewriteStore, new_rewrite: NewRewrite, episode: EpisodeRecord
) -> None:
    """Take 3 of a two-take rewrite is a ValueError and stores nothing."""
    assert episode.script is not None
    created = await new_rewrite(takes=2)
    with pytest.raises(ValueError, match="no take 3"):
        await rewrites.complete(created.id, episode.script, chosen_take=3, chosen_by="x")
    assert (await rewrites.latest_revision(episode)).number == 1


async def test_fail_then_requeue(rewrites: RewriteStore, new_rewrite: NewRewrite) -> None:
    """running → failed keeps the error; requeue clears it and runs again."""
    created = await new_rewrite()
    assert not await rewrites.requeue(created.id)
    assert await rewrites.fail(created.id, "overloaded")
    failed = await rewrites.get_by_id(created.id)
    assert failed is not None
    assert (failed.status, failed.error) == ("failed", "overloaded")
    assert await rewrites.requeue(created.id)
    again = await rewrites.get_by_id(created.id)
    assert again is not None
    assert (again.status, again.error) == ("running", None)


async def test_requeue_refused_when_the_scene_is_busy_again(
    rewrites: RewriteStore, new_rewrite: NewRewrite
) -> None:
    """A failed rewrite cannot run beside a newer note on the same scene."""
    created = await new_rewrite()
    await rewrites.fail(created.id, "overloaded")
    await new_rewrite()
    assert not await rewrites.requeue(created.id)


async def test_to_voting_only_from_running(rewrites: RewriteStore, new_rewrite: NewRewrite) -> None:
    """A cancelled rewrite cannot go to a vote."""
    created = await new_rewrite(takes=2)
    await rewrites.cancel(created.id, "Bo")
    assert not await rewrites.to_voting(created.id)


async def test_cancel_while_voting(rewrites: RewriteStore, new_rewrite: NewRewrite) -> None:
    """voting → cancelled; a second cancel is False."""
    created = await new_rewrite(takes=2)
    await rewrites.to_voting(created.id)
    assert await rewrites.cancel(created.id, "Maya")
    assert not await rewrites.cancel(created.id, "Maya")


# -- start-up queries --------------------------------------------------------------------------


async def test_start_up_lists(
    rewrites: RewriteStore, new_rewrite: NewRewrite, episode: EpisodeRecord
) -> None:
    """Running, voting, undelivered and stale rewrites are each found by their list."""
    assert episode.script is not None
    running = await new_rewrite(scene=1)
    voting = await new_rewrite(scene=2, takes=2)
    done = await new_rewrite(scene=3)
    await rewrites.to_voting(voting.id)
    await rewrites.complete(done.id, episode.script, chosen_take=None, chosen_by=None)
    assert [r.id for r in await rewrites.list_unfinished()] == [running.id]
    assert [r.id for r in await rewrites.list_voting()] == [voting.id]
    assert [r.id for r in await rewrites.list_undelivered()] == [done.id]
    assert [r.id for r in await rewrites.list_status_stale()] == [done.id]
    assert await rewrites.list_unfinished(guild_ids=[GUILD + 1]) == []
    assert await rewrites.mark_delivered(done.id, 99)
    assert not await rewrites.mark_delivered(done.id, 100)
    assert await rewrites.mark_status_shown(done.id)
    assert await rewrites.list_undelivered() == []
    assert await rewrites.list_status_stale() == []


async def test_mark_delivered_requires_done(
    rewrites: RewriteStore, new_rewrite: NewRewrite
) -> None:
    """A running rewrite cannot be marked delivered."""
    assert not await rewrites.mark_delivered((await new_rewrite()).id, 1)


async def test_messages_are_remembered(rewrites: RewriteStore, new_rewrite: NewRewrite) -> None:
    """The status and ballot messages are stored for a restarted bot to edit."""
    created = await new_rewrite(takes=2)
    assert await rewrites.set_status_message(created.id, 7, 8)
    assert await rewrites.set_ballot_message(created.id, 9)
    found = await rewrites.get_by_id(created.id)
    assert found is not None
    assert (found.status_channel_id, found.status_message_id, found.ballot_message_id) == (7, 8, 9)


# -- votes -------------------------------------------------------------------------------------


async def test_votes_count_once_per_writer(rewrites: RewriteStore, new_rewrite: NewRewrite) -> None:
    """Pressing again changes the vote; every take is in the tally."""
    created = await new_rewrite(takes=3)
    await rewrites.to_voting(created.id)
    assert await rewrites.vote(created.id, 1, 2) == {1: 0, 2: 1, 3: 0}
    assert await rewrites.vote(created.id, 2, 2) == {1: 0, 2: 2, 3: 0}
    assert await rewrites.vote(created.id, 1, 3) == {1: 0, 2: 1, 3: 1}
    assert await rewrites.vote(created.id, 1, 3) == {1: 0, 2: 1, 3: 1}
    assert await rewrites.tally(created.id) == {1: 0, 2: 1, 3: 1}


async def test_votes_only_while_voting(rewrites: RewriteStore, new_rewrite: NewRewrite) -> None:
    """Before the vote opens and after it closes, vote is None and nothing is counted."""
    created = await new_rewrite(takes=2)
    assert await rewrites.vote(created.id, 1, 1) is None
    await rewrites.to_voting(created.id)
    await rewrites.cancel(created.id, "Maya")
    assert await rewrites.vote(created.id, 1, 1) is None
    assert await rewrites.tally(created.id) == {1: 0, 2: 0}


async def test_vote_for_a_missing_take(rewrites: RewriteStore, new_rewrite: NewRewrite) -> None:
    """Take 3 of two is a ValueError."""
    created = await new_rewrite(takes=2)
    await rewrites.to_voting(created.id)
    with pytest.raises(ValueError, match="no take 3"):
        await rewrites.vote(created.id, 1, 3)


async def test_a_pick_is_kept_once_while_voting(
    rewrites: RewriteStore, new_rewrite: NewRewrite
) -> None:
    """The showrunner's pick is stored (for a restart to make it the revision); a second pick,
    a pick before the vote opens or after it closes, and a missing take are refused."""
    created = await new_rewrite(takes=2)
    assert not await rewrites.pick(created.id, 1, "Maya")  # still being written
    await rewrites.to_voting(created.id)
    with pytest.raises(ValueError, match="no take 3"):
        await rewrites.pick(created.id, 3, "Maya")
    assert await rewrites.pick(created.id, 2, "Maya")
    assert not await rewrites.pick(created.id, 1, "Maya")
    picked = await rewrites.get_by_id(created.id)
    assert picked is not None and picked.status == "voting"
    assert (picked.chosen_take, picked.chosen_by) == (2, "Maya")
    await rewrites.cancel(created.id, "Maya")
    assert not await rewrites.pick(created.id, 1, "Maya")


async def test_tally_of_a_missing_rewrite(rewrites: RewriteStore) -> None:
    """No such rewrite: an empty tally."""
    assert await rewrites.tally(404) == {}


# -- revisions ---------------------------------------------------------------------------------


async def test_v1_is_the_episodes_own_script(
    rewrites: RewriteStore, episode: EpisodeRecord
) -> None:
    """Without rewrites, the latest revision is v1, the episode's script and author."""
    latest = await rewrites.latest_revision(episode)
    assert (latest.number, latest.script, latest.author_name) == (1, episode.script, "maya")
    assert (latest.scene, latest.note, latest.rewrite_id) == (None, None, None)
    assert await rewrites.get_revision(episode, 1) == latest
    assert await rewrites.list_revisions(episode) == [latest]


async def test_get_and_list_revisions(
    rewrites: RewriteStore, new_rewrite: NewRewrite, episode: EpisodeRecord
) -> None:
    """get_revision finds v2; list_revisions is v1 first; a missing number is None."""
    assert episode.script is not None
    v2 = rewritten(episode.script, 1, "Angrier.")
    await rewrites.complete((await new_rewrite()).id, v2, chosen_take=None, chosen_by=None)
    found = await rewrites.get_revision(episode, 2)
    assert found is not None
    assert found.script == v2
    assert [r.number for r in await rewrites.list_revisions(episode)] == [1, 2]
    assert await rewrites.get_revision(episode, 3) is None


async def test_revisions_keep_the_other_scenes_byte_for_byte(
    db: Database, rewrites: RewriteStore, new_rewrite: NewRewrite, episode: EpisodeRecord
) -> None:
    """The stored JSON of untouched scenes is exactly v1's."""
    assert episode.script is not None
    v2 = rewritten(episode.script, 1, "Angrier.")
    await rewrites.complete((await new_rewrite()).id, v2, chosen_take=None, chosen_by=None)
    stored = await rewrites.get_revision(episode, 2)
    assert stored is not None
    for index in (0, 2):
        assert (
            stored.script.scenes[index].model_dump_json()
            == episode.script.scenes[index].model_dump_json()
        )
    assert stored.script.scenes[1] != episode.script.scenes[1]


async def test_deleting_the_episode_deletes_rewrites_and_revisions(
    db: Database,
    episodes: EpisodeStore,
    rewrites: RewriteStore,
    new_rewrite: NewRewrite,
    episode: EpisodeRecord,
) -> None:
    """A data-removal request leaves no rewrite, vote or revision behind."""
    assert episode.script is not None
    voting = await new_rewrite(scene=1, takes=2)
    await rewrites.to_voting(voting.id)
    await rewrites.vote(voting.id, 1, 1)
    await rewrites.complete(
        (await new_rewrite()).id, episode.script, chosen_take=None, chosen_by=None
    )
    assert await episodes.delete(episode.id)
    for table in ("rewrites", "revisions", "rewrite_votes"):
        row = await db.fetchone(f"SELECT count(*) FROM {table}")
        assert row is not None and row[0] == 0, table


# -- checkpoints -------------------------------------------------------------------------------


async def test_a_rewrites_checkpoints_are_its_own(
    db: Database, new_rewrite: NewRewrite, episode: EpisodeRecord
) -> None:
    """Steps saved under the rewrite's prefix load back bare, and only for that rewrite."""
    first = await new_rewrite(scene=1)
    second = await new_rewrite(scene=2)
    usage = CallUsage(step="take:1:scene:1:dialogue", model="m", output_tokens=5)
    ours = SqliteCheckpoints(db, episode.id, prefix=first.checkpoint_prefix)
    await ours.save("take:1:scene:1:dialogue", usage, usage)
    loaded = await ours.load()
    assert list(loaded) == ["take:1:scene:1:dialogue"]
    assert loaded["take:1:scene:1:dialogue"].usage == usage
    assert await SqliteCheckpoints(db, episode.id, prefix=second.checkpoint_prefix).load() == {}
    assert await SqliteCheckpoints(db, episode.id).load() == {}
