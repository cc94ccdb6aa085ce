"""What the server does differently when several servers share one PostgreSQL database.

Each server starts the same way (migrate, make the admin account, repair what a
stopped server left); two starting at once would both migrate (and fail on the
tables the other just made) and both repair the same rows. ``startup_lock()``
makes them take turns: a PostgreSQL advisory lock, held by the starting server's
connection until its start-up is done (or the connection ends, if it dies). On
SQLite there is one server per database file, and its writers already take turns
(IMMEDIATE transactions), so the lock is nothing there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

# An arbitrary key of our own, the same in every server: "conveyor" in ASCII.
STARTUP_LOCK_KEY = 0x636F6E7665796F72


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


@contextmanager
def startup_lock() -> Iterator[None]:
    """Hold the database's start-up lock: one server at a time migrates and recovers."""
    if not on_postgresql():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [STARTUP_LOCK_KEY])
    try:
        yield
    finally:
        if connection.connection is not None:  # a lost connection released it already
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [STARTUP_LOCK_KEY])


def lock_in_transaction(key: int) -> None:
    """Inside ``transaction.atomic()``: wait for, then hold until the end of the
    transaction, the advisory lock ``key`` (nothing on SQLite, whose IMMEDIATE
    transactions already let one writer at a time through)."""
    if on_postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
