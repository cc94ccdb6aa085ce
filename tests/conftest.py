"""Shared fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import git
from tests.sshd import SSHD, Sshd


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty git repository with one commit, on branch main."""
    path = tmp_path / "repo"
    path.mkdir()
    git("init", "-q", "-b", "main", cwd=path)
    (path / "README").write_text("test repository\n")
    git("add", ".", cwd=path)
    git("commit", "-q", "-m", "first", cwd=path)
    return path


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """One real sshd on 127.0.0.1 for the whole session (the ssh:// deploy tests)."""
    if not os.path.exists(SSHD):
        pytest.skip("no /usr/sbin/sshd (scripts/test installs openssh-server)")
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()
