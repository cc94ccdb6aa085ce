"""With uv on the PATH, a release's venv is made by uv from the target's shared cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.deploy.state import Target
from tests.cli import deploy_projects as shop
from tests.cli.django_projects import append
from tests.cli.test_deploy_django import free_port
from tests.cli.test_deploy_django_inputs import request
from tests.helpers import conveyor_env, run_conveyor

pytestmark = pytest.mark.slow


def test_uv_makes_the_venv_from_the_shared_cache(tmp_path: Path) -> None:
    uv_package = tmp_path / "uv"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(uv_package), "uv"],
        capture_output=True,
        text=True,
    )
    if installed.returncode != 0:
        pytest.skip(f"uv cannot be installed from PyPI here: {installed.stderr[-300:]}")
    target = tmp_path / "srv"
    project = shop.make_shop(tmp_path / "shop", target, f"127.0.0.1:{free_port()}")
    env = conveyor_env()
    env["PATH"] = str(uv_package / "bin") + os.pathsep + env["PATH"]
    argv = ["deploy", "--target", str(target), "--bind", f"127.0.0.1:{free_port()}"]
    options = ["--health-path", "/healthz", "--shared", "db.sqlite3", "--watch-seconds", "0"]
    try:
        for number in range(2):
            if number:  # new requirements: installed again, from the cache
                append(project / "requirements.txt", "sqlparse\n")
                shop.commit(project, "sqlparse named")
            result = run_conveyor(*argv, *options, cwd=project, env=env, timeout=300)
            assert result.returncode == 0, result.stdout + result.stderr
            assert f"{uv_package / 'bin' / 'uv'} venv" in result.stdout
            assert f"{uv_package / 'bin' / 'uv'} pip install" in result.stdout
        assert any((target / ".cache" / "uv").iterdir())
        assert not (target / ".cache" / "pip").exists()
        assert request(target, "/healthz", "shop.example").status == 200
        assert len(Target(str(target)).release_names()) == 2
    finally:
        run_conveyor("deploy", "stop", "--target", str(target), cwd=tmp_path)
