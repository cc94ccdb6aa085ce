"""A repository inside the server's data directory is refused, by the API and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.server.repos.models import Repository
from tests.server.conftest import ROOT, git, server_environment
from tests.server.test_api_helpers import Api, cast


@pytest.mark.django_db
def test_it_refuses_a_repository_inside_the_data_directory(data_dir: Path) -> None:
    inside = data_dir / "mirrors" / "sneaky.git"
    inside.parent.mkdir()
    git("init", "-q", "--bare", str(inside), cwd=data_dir)
    admin = Api(cast()["admin"])
    for url in (str(inside), f"file://{inside}", str(data_dir)):
        response = admin.post("repositories", {"name": "sneaky", "url": url})
        assert response.status_code == 400, (url, response.content)
        assert response.json()["field"] == "url"
        assert "inside the server's data directory" in response.json()["detail"]
    assert not Repository.objects.exists()
    assert not (inside / "hooks" / "post-receive").exists()


@pytest.mark.slow
def test_the_cli_refuses_it_too(tmp_path: Path) -> None:
    data = tmp_path / "data"
    inside = data / "work" / "sneaky.git"
    inside.parent.mkdir(parents=True)
    git("init", "-q", "--bare", str(inside), cwd=tmp_path)
    added = subprocess.run(
        [sys.executable, "-m", "conveyor", "repo", "add", "sneaky", str(inside)],
        env=server_environment(data),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 2
    assert f"{inside} is inside the server's data directory ({data})" in added.stderr
    assert "Traceback" not in added.stderr
    assert not (inside / "hooks" / "post-receive").exists()
