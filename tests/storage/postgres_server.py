"""A throwaway PostgreSQL server for the storage tests: Debian's binaries, a temporary cluster.

``initdb`` into a temporary directory, then ``pg_ctl start`` with a Unix socket only (no TCP
port at all) in that directory. Durability is switched off (``fsync=off``): the cluster is
deleted after the run, and the tests check behaviour, not crash safety of the server itself.
As root, the server runs as the ``postgres`` user, because ``initdb`` refuses to run as root.
Tests share one database whose tables are emptied before each test (faster than a database per
test); a test that needs an empty one gets a new schema of its own.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from itertools import count
from pathlib import Path
from typing import Final

import asyncpg

__all__ = ["PostgresServer", "find_bindir"]

USER: Final = "showrunner"
DATABASE: Final = "showrunner_tests"


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb``, if any."""
    root = Path("/usr/lib/postgresql")
    found = [p / "bin" for p in root.glob("*") if (p / "bin" / "initdb").is_file()]
    if not found:
        return None
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


class PostgresServer:
    """One cluster for the test session: :meth:`reset` before each test, or :meth:`new_schema`."""

    def __init__(self, bindir: Path) -> None:
        self._bindir = bindir
        self._root = Path(tempfile.mkdtemp(prefix="showrunner-pg-"))
        self._data = self._root / "data"
        self._names = count(1)
        self._run_as: list[str] = []
        if os.geteuid() == 0:
            # initdb refuses root; the postgres user (from Debian's package) runs the server.
            owner = pwd.getpwnam("postgres")
            os.chown(self._root, owner.pw_uid, owner.pw_gid)
            self._run_as = ["runuser", "-u", "postgres", "--"]
        self.port = 5432
        self._shape = ""

    @property
    def socket_dir(self) -> Path:
        return self._root

    def start(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self._data),
            "-U",
            USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self._root}",
                "-c listen_addresses=''",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        self._run(
            "pg_ctl", "-D", str(self._data), "-l", str(self._root / "log"), "-o", options,
            "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        if self._data.exists():
            self._run("pg_ctl", "-D", str(self._data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self._root, ignore_errors=True)

    def url(self, database: str = DATABASE, schema: str | None = None) -> str:
        search = f"&search_path={schema}" if schema else ""
        return f"postgresql://{USER}@/{database}?host={self._root}&port={self.port}{search}"

    async def prepare(self) -> None:
        """Create the tests' database and apply today's schema to it (once per session)."""
        await self._admin(f'CREATE DATABASE "{DATABASE}"')
        await self._migrate()
        self._shape = await self._schema_shape()

    async def reset(self) -> str:
        """The shared schema, emptied (ids restart at 1); returns its URL.

        Emptying the tables is much faster than a database or a schema per test. A test that
        changed the schema itself (a migration test) leaves a different shape: it is rebuilt.
        """
        connection = await asyncpg.connect(self.url())
        try:
            same = await _shape(connection) == self._shape
            if same:
                # DELETE, not TRUNCATE: a few rows per table, and no new files per table.
                tables = await connection.fetch(
                    "SELECT quote_ident(relname) FROM pg_class WHERE relkind = 'r'"
                    " AND relnamespace = 'public'::regnamespace AND relname <> '_migrations'"
                )
                statements = [f"DELETE FROM {row[0]};" for row in tables]
                sequences = await connection.fetch(
                    "SELECT quote_ident(relname) FROM pg_class WHERE relkind = 'S'"
                    " AND relnamespace = 'public'::regnamespace"
                    " AND relname NOT LIKE '\\_migrations%'"
                )
                statements += [f"ALTER SEQUENCE {row[0]} RESTART;" for row in sequences]
                await connection.execute("".join(statements))
        finally:
            await connection.close()
        if not same:
            await self._admin("DROP SCHEMA public CASCADE; CREATE SCHEMA public", DATABASE)
            await self._migrate()
        return self.url()

    async def new_schema(self) -> str:
        """The URL of a new, empty schema of its own (as a new SQLite file is empty)."""
        name = f"fresh_{next(self._names)}"
        await self._admin(f'CREATE SCHEMA "{name}"', DATABASE)
        return self.url(schema=name)

    async def drop_schema(self, url: str) -> None:
        name = url.rsplit("search_path=", 1)[1]
        await self._admin(f'DROP SCHEMA IF EXISTS "{name}" CASCADE', DATABASE)

    async def _migrate(self) -> None:
        from storage.postgres import PostgresDatabase

        db = await PostgresDatabase.open(self.url(), pool_size=1)
        await db.close()

    async def _schema_shape(self) -> str:
        connection = await asyncpg.connect(self.url())
        try:
            return await _shape(connection)
        finally:
            await connection.close()

    async def _admin(self, sql: str, database: str = "postgres") -> None:
        connection = await asyncpg.connect(self.url(database))
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    def _run(self, tool: str, *args: str, check: bool = True) -> None:
        command: Sequence[str] = [*self._run_as, str(self._bindir / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd="/")
        if check and done.returncode != 0:
            log = self._root / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{tool} failed ({done.returncode}): {done.stderr.strip()}\n{tail}".strip()
            )


async def _shape(connection: asyncpg.Connection) -> str:
    """A digest of the shared schema's tables, columns, indexes and recorded migrations."""
    try:
        digest = await connection.fetchval(
            "SELECT md5(string_agg(c.relname || '.' || coalesce(a.attname, '') || ':'"
            " || coalesce(a.atttypid::text, ''), ',' ORDER BY c.relname, a.attname))"
            " || coalesce((SELECT string_agg(name, ',' ORDER BY name) FROM _migrations), '')"
            " FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
            " AND NOT a.attisdropped WHERE c.relnamespace = 'public'::regnamespace"
        )
    except asyncpg.UndefinedTableError:  # a test dropped _migrations
        return ""
    return str(digest)
