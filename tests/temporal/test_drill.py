"""The drill with a few episodes: one gateway and two workers, all real processes on one
SQLite file, or on PostgreSQL; a worker SIGKILLed mid-run, then the gateway, which is started
again."""

from __future__ import annotations

from pathlib import Path

from bench.temporal_drill import DrillReport, drill, markdown
from tests.storage.postgres_server import PostgresServer


async def test_every_episode_is_delivered_once_through_a_worker_and_a_gateway_kill(
    address: str, tmp_path: Path
) -> None:
    report = await drill(address, 6, seed=3, folder=tmp_path)
    _delivered_once(report, 6)


async def test_the_drill_on_postgresql(
    address: str, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """The same, the three processes sharing a PostgreSQL database instead of a file."""
    url = await postgres_server.new_schema()
    try:
        report = await drill(address, 4, seed=5, folder=tmp_path, database=url)
    finally:
        await postgres_server.drop_schema(url)
    assert not (tmp_path / "showrunner.db").exists()
    _delivered_once(report, 4)


def _delivered_once(report: DrillReport, episodes: int) -> None:
    assert report.problems == [], markdown(report)
    assert set(report.posts.values()) == {1} and len(report.posts) == episodes
    # Killed mid-run, not before or after: some steps saved before each kill, others after.
    assert set(report.workflows.values()) == {"COMPLETED"}
    assert 0 < report.steps_at_worker_kill < report.steps_at_gateway_kill < report.steps


def test_the_verdict_names_each_problem() -> None:
    report = DrillReport(
        episodes=2,
        wall_s=1.0,
        posts={"ep-a": 1, "ep-b": 2},
        statuses={"ep-a": ("done", "done"), "ep-b": ("running", None)},
        live_cards=["ep-b"],
        repeated_steps=[("ep-b", "outline", 2)],
        workflows={"ep-a": "COMPLETED"},
        worker_exit=-9,
    )
    assert report.problems == [
        "ep-b: 2 script posts",
        "ep-b: ended running, status shown None",
        "ep-b: its status still shows a Cancel button",
        "ep-b: outline in the ledger 2 times",
        "ep-b: its workflow is missing",
    ]
    assert "FAILED" in markdown(report)
    done: dict[str, tuple[str, str | None]] = {"ep-a": ("done", "done")}
    assert DrillReport(
        1, 1.0, {"ep-a": 1}, done, workflows={"ep-a": "COMPLETED"}, worker_exit=-9
    ).ok
