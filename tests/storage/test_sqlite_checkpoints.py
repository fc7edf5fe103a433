"""SqliteCheckpoints: steps survive a restart, with their usage, under concurrency and cancels."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from scriptgen.checkpoints import Checkpoints, StoredStep
from scriptgen.models import CallUsage, Outline, SceneDialogue
from storage import Database, EpisodeRecord, EpisodeStore, SqliteCheckpoints, StorageError

NewEpisode = Callable[..., Awaitable[EpisodeRecord]]

OUTLINE = Outline.model_validate(
    {
        "title": "Bean There",
        "logline": "A coffee machine wants a raise.",
        "scenes": [
            {
                "heading": "INT. COFFEE SHOP - DAY",
                "location": "Coffee shop",
                "time": "DAY",
                "characters": ["MAYA"],
                "beat": "The machine refuses to brew.",
                "comic_goal": "Negotiating with an appliance.",
            }
        ],
    }
)
DIALOGUE = SceneDialogue.model_validate({"lines": [{"character": "MAYA", "line": "Brew. Now."}]})


def call(step: str, **numbers: int | float) -> CallUsage:
    return CallUsage.model_validate({"step": step, "model": "demo-1", **numbers})


async def _count(db: Database, table: str) -> int:
    row = await db.fetchone(f"SELECT count(*) FROM {table}")
    assert row is not None
    return int(row[0])


def test_satisfies_the_scriptgen_protocol(db: Database) -> None:
    """SqliteCheckpoints is a Checkpoints (checked by mypy on this assignment)."""
    checkpoints: Checkpoints = SqliteCheckpoints(db, 1)
    assert hasattr(checkpoints, "save")


async def test_save_then_load_after_restart(db_target: str | Path, new_episode: NewEpisode) -> None:
    """Steps saved before a restart load, with their usage, from a new Database on the file."""
    episode = await new_episode()
    outline_usage = call(
        "outline",
        input_tokens=1200,
        output_tokens=300,
        cache_write_tokens=1000,
        cache_read_tokens=0,
        latency_s=2.5,
        retries=1,
    )
    dialogue_usage = call("scene:1:dialogue", input_tokens=900, cache_read_tokens=800)
    async with await Database.open(db_target) as before:
        checkpoints = SqliteCheckpoints(before, episode.id)
        await checkpoints.save("outline", OUTLINE, outline_usage)
        await checkpoints.save("scene:1:dialogue", DIALOGUE, dialogue_usage)
    async with await Database.open(db_target) as after:
        loaded = await SqliteCheckpoints(after, episode.id).load()
    assert dict(loaded) == {
        "outline": StoredStep(OUTLINE.model_dump_json(), outline_usage),
        "scene:1:dialogue": StoredStep(DIALOGUE.model_dump_json(), dialogue_usage),
    }
    assert Outline.model_validate_json(loaded["outline"].payload) == OUTLINE


async def test_load_is_scoped_to_the_episode(db: Database, new_episode: NewEpisode) -> None:
    """One episode's steps are not another's."""
    first = await new_episode()
    second = await new_episode()
    await SqliteCheckpoints(db, first.id).save("outline", OUTLINE, call("outline"))
    assert await SqliteCheckpoints(db, second.id).load() == {}


async def test_save_writes_a_ledger_row(db: Database, new_episode: NewEpisode) -> None:
    """Each saved step adds its call to the usage ledger, outcome ok."""
    episode = await new_episode()
    await SqliteCheckpoints(db, episode.id).save("outline", OUTLINE, call("outline"))
    rows = await db.fetchall("SELECT episode_id, step, outcome FROM usage")
    assert [tuple(r) for r in rows] == [(episode.id, "outline", "ok")]


async def test_saving_a_key_again_replaces_the_step(db: Database, new_episode: NewEpisode) -> None:
    """A re-run step replaces the stored output; both calls stay in the ledger."""
    episode = await new_episode()
    checkpoints = SqliteCheckpoints(db, episode.id)
    await checkpoints.save("scene:1:dialogue", DIALOGUE, call("scene:1:dialogue", input_tokens=1))
    better = SceneDialogue.model_validate({"lines": [{"character": "MAYA", "line": "Please?"}]})
    await checkpoints.save("scene:1:dialogue", better, call("scene:1:dialogue", input_tokens=2))
    loaded = await checkpoints.load()
    assert loaded["scene:1:dialogue"].payload == better.model_dump_json()
    assert loaded["scene:1:dialogue"].usage.input_tokens == 2
    assert await _count(db, "usage") == 2


async def test_save_for_a_missing_episode_is_refused(db: Database) -> None:
    """A step for an episode that does not exist fails and leaves no orphan usage row."""
    with pytest.raises(StorageError, match=r"(?i)foreign key"):
        await SqliteCheckpoints(db, 4242).save("outline", OUTLINE, call("outline"))
    assert await _count(db, "usage") == 0


async def test_fifty_concurrent_saves_all_land(db: Database, new_episode: NewEpisode) -> None:
    """Fifty tasks saving at once on one Database: every step and usage row is there."""
    episode = await new_episode()
    checkpoints = SqliteCheckpoints(db, episode.id)
    await asyncio.gather(
        *(
            checkpoints.save(f"scene:{n}:dialogue", DIALOGUE, call(f"scene:{n}:dialogue"))
            for n in range(50)
        )
    )
    loaded = await checkpoints.load()
    assert sorted(loaded) == sorted(f"scene:{n}:dialogue" for n in range(50))
    assert all(step.usage.step == key for key, step in loaded.items())
    assert await _count(db, "usage") == 50


async def test_cancelled_saves_never_split_a_step_from_its_usage(
    db: Database, new_episode: NewEpisode
) -> None:
    """Saves cancelled at random points leave each step with its usage row, or neither."""
    episode = await new_episode()
    checkpoints = SqliteCheckpoints(db, episode.id)
    rng = random.Random(3)

    async def save_then_maybe_cancel(n: int) -> None:
        task = asyncio.create_task(
            checkpoints.save(f"step:{n}", DIALOGUE, call(f"step:{n}", input_tokens=n))
        )
        for _ in range(rng.randrange(8)):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    await asyncio.gather(*(save_then_maybe_cancel(n) for n in range(60)))
    steps = await db.fetchall("SELECT key FROM steps")
    ledger = await db.fetchall("SELECT step FROM usage")
    assert sorted(r[0] for r in steps) == sorted(r[0] for r in ledger)
    await checkpoints.save("after", DIALOGUE, call("after"))
    assert "after" in await checkpoints.load()


async def test_deleting_an_episode_cascades(
    db: Database, episodes: EpisodeStore, new_episode: NewEpisode
) -> None:
    """Deleting an episode deletes its steps and usage rows, and no one else's."""
    doomed = await new_episode()
    kept = await new_episode()
    await SqliteCheckpoints(db, doomed.id).save("outline", OUTLINE, call("outline"))
    await SqliteCheckpoints(db, kept.id).save("outline", OUTLINE, call("outline"))
    assert await episodes.delete(doomed.id)
    assert await SqliteCheckpoints(db, doomed.id).load() == {}
    assert list(await SqliteCheckpoints(db, kept.id).load()) == ["outline"]
    assert (await _count(db, "steps"), await _count(db, "usage")) == (1, 1)
    assert await episodes.get_by_id(doomed.id) is None


# -- a rewrite's checkpoints (prefix) ---------------------------------------------------------


async def test_prefixed_steps_load_without_the_prefix(
    db: Database, new_episode: NewEpisode
) -> None:
    """A rewrite's view loads only its keys, bare, with the ledger's step name bare too."""
    episode = await new_episode()
    rewrite = SqliteCheckpoints(db, episode.id, prefix="rw12:")
    usage = call("take:1:scene:1:dialogue", output_tokens=40)
    await rewrite.save("take:1:scene:1:dialogue", DIALOGUE, usage)
    await SqliteCheckpoints(db, episode.id, prefix="rw13:").save("outline", OUTLINE, usage)
    assert dict(await rewrite.load()) == {
        "take:1:scene:1:dialogue": StoredStep(DIALOGUE.model_dump_json(), usage)
    }


async def test_prefixed_steps_are_stored_under_the_prefix(
    db: Database, new_episode: NewEpisode
) -> None:
    """In the database the key and the ledger's step carry the prefix: costs stay apart."""
    episode = await new_episode()
    rewrite = SqliteCheckpoints(db, episode.id, prefix="rw12:")
    await rewrite.save("take:1:scene:1:dialogue", DIALOGUE, call("take:1:scene:1:dialogue"))
    await rewrite.record_failure("take:2:scene:1:dialogue", call("take:2:scene:1:dialogue"))
    steps = await db.fetchall("SELECT key FROM steps")
    ledger = await db.fetchall("SELECT step, outcome FROM usage ORDER BY id")
    assert [r[0] for r in steps] == ["rw12:take:1:scene:1:dialogue"]
    assert [tuple(r) for r in ledger] == [
        ("rw12:take:1:scene:1:dialogue", "ok"),
        ("rw12:take:2:scene:1:dialogue", "error"),
    ]


async def test_the_episodes_view_leaves_out_rewrites(db: Database, new_episode: NewEpisode) -> None:
    """An episode resumed, or retried, never sees a rewrite's steps as its own."""
    episode = await new_episode()
    own = SqliteCheckpoints(db, episode.id)
    await own.save("outline", OUTLINE, call("outline"))
    await SqliteCheckpoints(db, episode.id, prefix="rw1:").save("outline", OUTLINE, call("x"))
    assert list(await own.load()) == ["outline"]
    assert (await own.load())["outline"].usage == call("outline")


def test_a_prefix_must_name_a_rewrite(db: Database) -> None:
    """A prefix other than rw<id>: is refused: the episode's view could not tell it apart."""
    with pytest.raises(ValueError, match="rw12:"):
        SqliteCheckpoints(db, 1, prefix="take:")
