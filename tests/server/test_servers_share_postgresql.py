"""Two ``conveyor server`` processes, each with its own data directory, start at the same
moment on one new PostgreSQL database: they take turns to migrate it and make the admin
account, and both serve."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from tests.server import postgres_support
from tests.server.conftest import ServerProcess, start_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.postgres_only]


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True)


def _server_url(database: str) -> str:
    return postgres_support.database_url().rsplit("/", 1)[0] + f"/{database}"


def _drop_database(name: str) -> None:
    with _connect(_server_url("postgres")) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _count(url: str, sql: str) -> int:
    with _connect(url) as database:
        return database.execute(sql).fetchone()[0]


def test_two_servers_start_at_once_on_one_new_database(tmp_path: Path) -> None:
    if not postgres_support.on_postgresql():
        pytest.skip("servers sharing a database: PostgreSQL's (scripts/test's second pass)")
    name = f"{postgres_support.SESSION_DATABASE_PREFIX}{os.getpid()}_shared"
    _drop_database(name)
    with _connect(_server_url("postgres")) as server:
        server.execute(f'CREATE DATABASE "{name}"')
    url = _server_url(name)
    servers: list[ServerProcess] = []
    try:
        with ThreadPoolExecutor(2) as pool:
            starting = [
                pool.submit(
                    start_server,
                    tmp_path / f"server-{letter}",
                    timeout=90.0,
                    env={"DATABASE_URL": url},
                )
                for letter in "ab"
            ]
            for future in starting:
                servers.append(future.result())
        assert _count(url, "SELECT count(*) FROM auth_user WHERE is_superuser") == 1
        applied = _count(url, "SELECT count(*) FROM django_migrations")
        assert applied == _count(url, "SELECT count(DISTINCT (app, name)) FROM django_migrations")
        outputs = [server.output() for server in servers]
        assert sum("Created the admin account" in output for output in outputs) == 1
        assert not any("Traceback" in output for output in outputs), outputs
    finally:
        for server in servers:
            server.process.send_signal(signal.SIGTERM)
        for server in servers:
            try:
                server.process.wait(15)
            except Exception:
                server.process.kill()
        _drop_database(name)
