"""Fixtures every test directory may use: the throwaway PostgreSQL server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.storage.postgres_server import PostgresServer, find_bindir


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL cluster for the session, with the schema in a template."""
    bindir = find_bindir()
    if bindir is None:
        message = (
            "PostgreSQL's binaries are not installed (Debian: apt-get install postgresql); "
            "the tests on PostgreSQL are skipped, those on SQLite ran"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI must test PostgreSQL too: {message}")
        pytest.skip(message)
    server = PostgresServer(bindir)
    try:
        server.start()
        # Set up from inside a test's running event loop: the template is made on a thread.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, server.prepare()).result()
        yield server
    finally:
        server.stop()
