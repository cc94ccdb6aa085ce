"""Two deploys to one target at once: the second waits for the first, then deploys on
top of it (its previous release is the first's)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from conveyor.deploy.state import Target
from tests.cli import deploy_projects as shop
from tests.cli.test_deploy_django import free_port
from tests.helpers import conveyor_env, run_conveyor

pytestmark = pytest.mark.slow


def test_the_second_deploy_waits_for_the_first(tmp_path: Path) -> None:
    target = tmp_path / "srv"
    bind = f"127.0.0.1:{free_port()}"
    project = shop.make_shop(tmp_path / "shop", target, bind)
    argv = [sys.executable, "-m", "conveyor", "deploy", "--target", str(target), "--bind", bind]
    argv += ["--health-path", "/healthz", "--shared", "db.sqlite3", "--watch-seconds", "0"]
    outputs = [tmp_path / "first.out", tmp_path / "second.out"]
    deploys: list[subprocess.Popen] = []
    try:
        # The test holds the target's lock until both deploys are seen waiting for it.
        with Target(str(target)).locked(lambda line: None):
            for output in outputs:
                with open(output, "w") as file:
                    deploys.append(
                        subprocess.Popen(
                            argv, cwd=project, env=conveyor_env(), stdout=file, stderr=file
                        )
                    )
            deadline = time.monotonic() + 60
            while not all("waiting for another deploy" in o.read_text() for o in outputs):
                assert time.monotonic() < deadline, [o.read_text() for o in outputs]
                time.sleep(0.1)
        for process, output in zip(deploys, outputs, strict=True):
            assert process.wait(timeout=300) == 0, output.read_text()
        releases = Target(str(target))
        first, second = releases.release_names()
        assert releases.load(first).previous == ""
        assert releases.load(second).previous == first  # deployed after the first ended
        assert releases.current() == second
        assert releases.load(first).state == "retired" and releases.load(first).pid == 0
    finally:
        for process in deploys:
            if process.poll() is None:
                process.kill()
                process.wait()
        run_conveyor("deploy", "stop", "--target", str(target), cwd=tmp_path)
