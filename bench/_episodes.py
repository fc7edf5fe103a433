"""Episode rows and database files for the storage benches (``bench/storage.py`` and its
whole-episode section, ``bench/_checkpoint_pipeline.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from scriptgen.models import EpisodeRequest
from storage import Database, EpisodeStore

__all__ = ["create_episodes", "remove_database"]

GUILD, CHANNEL, AUTHOR = 111_111_111_111_111_111, 333_333_333_333_333_333, 444_444_444_444_444_444


async def create_episodes(db: Database, requests: Sequence[EpisodeRequest]) -> list[int]:
    """One episode per request, from five guilds and one writer each; their ids, in order."""
    store = EpisodeStore(db)
    ids = []
    for n, request in enumerate(requests):
        record = await store.create(
            guild_id=GUILD + n % 5,
            channel_id=CHANNEL,
            author_id=AUTHOR + n,
            author_name=f"writer{n}",
            request=request,
            provider="demo",
            model="showrunner-demo",
        )
        ids.append(record.id)
    return ids


def remove_database(path: Path) -> None:
    """The file and its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
