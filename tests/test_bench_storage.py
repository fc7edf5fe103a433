"""Smoke test of bench/storage.py: its pieces run, and its what-if writes what the product writes.

The full bench takes tens of seconds and its figures depend on the machine, so only small runs
here, checking the bench measures what it says (every save timed, the breakdown adds up, the
what-if rows read back through ``SqliteCheckpoints`` exactly like the product's).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.storage import (
    Recorded,
    file_size,
    pct,
    product_run,
    record,
    size_bench,
    worker_run,
)
from storage import Database, EpisodeStore, SqliteCheckpoints


@pytest.fixture
async def episode() -> Recorded:
    return await record(seed=3, scenes=4)


async def stored_steps(path: Path) -> dict[str, tuple[str, str, int]]:
    async with await Database.open(path) as db:
        (record_,) = await EpisodeStore(db).list_unfinished()
        steps = await SqliteCheckpoints(db, record_.id).load()
    return {k: (s.payload, s.usage.step, s.usage.output_tokens) for k, s in steps.items()}


def expected_steps(episode: Recorded) -> dict[str, tuple[str, str, int]]:
    return {
        s.key: (s.value.model_dump_json(), s.usage.step, s.usage.output_tokens)
        for s in episode.saves
    }


def test_recording_has_every_step_of_the_generator(episode: Recorded) -> None:
    """Outline, two saves per scene, comedy, and any refinements, in the generator's order."""
    keys = [s.key for s in episode.saves]
    assert keys[0] == "outline"
    for n in range(1, 5):
        assert keys.index(f"scene:{n}:dialogue") < keys.index(f"scene:{n}:directions")
    assert "comedy" in keys
    assert len(keys) == len(set(keys)) == len(episode.script.usage)


async def test_product_run_times_every_save_and_the_parts_add_up(
    tmp_path: Path, episode: Recorded
) -> None:
    samples = await product_run(tmp_path / "p.db", [episode], "alone")
    assert len(samples.total) == len(samples.commit) == len(episode.saves)
    for total, lock, statements, commit in zip(
        samples.total, samples.lock, samples.statements, samples.commit, strict=True
    ):
        assert lock >= 0 and statements > 0 and commit > 0
        assert lock + statements + commit <= total
    assert samples.wall >= sum(samples.total) * 0.99
    assert await stored_steps(tmp_path / "p.db") == expected_steps(episode)


@pytest.mark.parametrize("group", [False, True])
async def test_what_if_writes_what_the_product_writes(
    tmp_path: Path, episode: Recorded, group: bool
) -> None:
    path = tmp_path / "w.db"
    samples = await worker_run(path, [episode], "burst", group=group)
    assert len(samples.total) == len(episode.saves)
    assert samples.commit == []  # not instrumented
    assert await stored_steps(path) == expected_steps(episode)


async def test_size_is_measured_after_a_truncating_checkpoint(
    tmp_path: Path, episode: Recorded
) -> None:
    figures = await size_bench(tmp_path, episode, 3)
    assert figures.file_bytes == file_size(tmp_path / "size-4.db") > figures.empty_bytes
    assert file_size(tmp_path / "size-4.db-wal") == 0
    assert {"episodes", "steps", "usage"} <= figures.by_object.keys()
    assert sum(figures.by_object.values()) == figures.file_bytes


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (pct(values, 50), pct(values, 99), pct(values, 100)) == (50.0, 99.0, 100.0)
    assert pct([5.0], 99) == 5.0
    assert pct([float(n) for n in range(1, 1016)], 99) == 1005.0
