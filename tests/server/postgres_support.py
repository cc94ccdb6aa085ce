"""The server's tests on PostgreSQL: a test database of the session's own, and its URL.

``CONVEYOR_TEST_DATABASE_URL`` (see conftest.py) names the server to test on. Several
test sessions may share that server (helpers, CI jobs): pytest-django would make
``test_<name>`` for each and drop another session's database under it, so each
session gets ``test_conveyor_<pid>``, and databases left by sessions that were killed
(their process is gone) are dropped when the next session starts.
"""

from __future__ import annotations

import os
from urllib.parse import quote

import psutil
from django.conf import settings
from django.db import connection, connections

SESSION_DATABASE_PREFIX = "test_conveyor_"


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def use_a_test_database_of_this_session() -> None:
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit(
            f"CONVEYOR_TEST_DATABASE_URL must name a PostgreSQL database, not {database['ENGINE']}"
        )
    database.setdefault("TEST", {})["NAME"] = f"{SESSION_DATABASE_PREFIX}{os.getpid()}"
    _drop_databases_of_ended_sessions()


def _drop_databases_of_ended_sessions() -> None:
    with connection._nodb_cursor() as cursor:
        cursor.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            [SESSION_DATABASE_PREFIX.replace("_", r"\_") + "%"],
        )
        names = [row[0] for row in cursor.fetchall()]
        for name in names:
            pid = name.removeprefix(SESSION_DATABASE_PREFIX)
            if not pid.isdigit() or psutil.pid_exists(int(pid)):
                continue
            # A session still connected (on another machine sharing the server) keeps it:
            # DROP DATABASE refuses while anyone is connected.
            try:
                cursor.execute(f'DROP DATABASE "{name}"')
            except Exception:
                pass


def end_other_sessions() -> None:
    """End every other session on the test database (threads' connections left open)."""
    connections.close_all()
    name = settings.DATABASES["default"]["NAME"]
    with connection._nodb_cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )


def database_url() -> str:
    """The URL of the database the tests use now, for a server or command they start."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{database['NAME']}"
    user = quote(database.get("USER") or "", safe="")
    password = quote(database.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = database.get("HOST") or "127.0.0.1"
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{quote(database['NAME'], safe='')}"
