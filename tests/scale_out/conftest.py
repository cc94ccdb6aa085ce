"""Fixtures of the scale-out tests: a real Redis, server and workers (see support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scale_out.support import Cluster, ensure_redis
from tests.server.conftest import git_project  # noqa: F401 (a fixture these tests use)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    found = Cluster(tmp_path, ensure_redis())
    try:
        yield found
    finally:
        found.stop()
