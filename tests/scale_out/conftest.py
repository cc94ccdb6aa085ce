"""Fixtures of the scale-out tests: real PostgreSQL, Redis, server and workers (support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scale_out.support import (
    Cluster,
    drop_postgres_database,
    ensure_redis,
    new_postgres_database,
)
from tests.server.conftest import git_project  # noqa: F401 (a fixture these tests use)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    name, url = new_postgres_database()
    found = Cluster(tmp_path, ensure_redis(), url)
    try:
        yield found
    finally:
        found.stop()
        drop_postgres_database(name)
