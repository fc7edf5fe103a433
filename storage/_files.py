"""The database file on disk: checking its path before SQLite opens it, and one-line errors.

Kept apart from :mod:`storage.database` so that module is about connections and transactions.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Final

from storage.errors import StorageError

__all__ = ["BUSY_TIMEOUT_MS", "describe", "prepare_location"]

BUSY_TIMEOUT_MS: Final = 5000
"""How long a writer waits for another process's lock before giving up with a StorageError."""


def prepare_location(path: str | Path) -> str:
    """Check the path and create its directory; return what sqlite3 should open."""
    if str(path) == ":memory:":
        return ":memory:"
    target = Path(path).expanduser()
    if target.is_dir():
        raise StorageError(
            f"{target} is a directory: give the database a file name, "
            f"e.g. {target / 'showrunner.db'}"
        )
    if target.exists() and not target.is_file():
        raise StorageError(f"{target} is not a regular file: choose another database path")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        where = err.filename or target.parent
        raise StorageError(
            f"cannot create the directory for the database {target} ({reason}: {where}): "
            "choose a path in a writable directory"
        ) from None
    # Open it ourselves first: a permission problem becomes a plain OSError here, rather than a
    # failure inside aiosqlite's connect, whose worker thread can outlive the event loop and
    # print a thread traceback after our one-line error when the process exits.
    try:
        fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise StorageError(
            f"cannot open {target} for writing ({err.strerror or type(err).__name__}): make the "
            "file and its directory writable by this user, or choose another path"
        ) from None
    os.close(fd)
    return str(target)


def describe(label: str, err: sqlite3.Error) -> str:
    """One line for an operator: which file, what is wrong, what to do."""
    text = " ".join(str(err).split())
    low = text.lower()
    if "not a database" in low or "malformed" in low:
        return (
            f"{label} is not a usable Showrunner database (damaged, or not an SQLite file: "
            f"{text}): restore it from a backup, or move it aside to start an empty one"
        )
    if "unable to open" in low or "readonly" in low or "read-only" in low:
        return (
            f"cannot open {label} for writing ({text}): make the file and its directory "
            "writable by this user, or choose another path"
        )
    if "locked" in low or "busy" in low:
        return (
            f"{label} stayed locked by another connection for {BUSY_TIMEOUT_MS // 1000} s "
            f"({text}): stop the other program writing to it, or retry"
        )
    if "full" in low:
        return f"{label}: the disk is full ({text}): free some space"
    if "disk i/o" in low:
        return f"{label}: disk I/O error ({text}): check the disk or volume it lives on"
    return f"{label}: {text}"
