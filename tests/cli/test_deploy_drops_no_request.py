"""No request on ``bind`` fails while a release is deployed and rolled back: a load loop
hits the app throughout."""

from __future__ import annotations

import http.client
import threading
from pathlib import Path

import pytest

from tests.cli import deploy_projects as shop
from tests.cli.test_deploy_django import free_port
from tests.helpers import run_conveyor

pytestmark = pytest.mark.slow


class LoadLoop(threading.Thread):
    """GET / on ``bind`` again and again, remembering every answer and every failure."""

    def __init__(self, bind: str) -> None:
        super().__init__(daemon=True)
        self.host, port = bind.rsplit(":", 1)
        self.port = int(port)
        self.bodies: dict[str, int] = {}
        self.failures: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                connection.request("GET", "/", headers={"Host": "shop.example"})
                response = connection.getresponse()
                body = response.read().decode().strip()
                if response.status != 200:
                    self.failures.append(f"{response.status}: {body[:100]}")
                else:
                    self.bodies[body] = self.bodies.get(body, 0) + 1
            except (OSError, http.client.HTTPException) as error:
                self.failures.append(repr(error))
            finally:
                connection.close()


def test_a_deploy_and_a_rollback_fail_no_request(tmp_path: Path) -> None:
    target = tmp_path / "srv"
    bind = f"127.0.0.1:{free_port()}"
    project = shop.make_shop(tmp_path / "shop", target, bind)
    deploy = ["deploy", "--target", str(target), "--bind", bind, "--health-path", "/healthz"]
    deploy += ["--shared", "db.sqlite3", "--watch-seconds", "1"]
    load = LoadLoop(bind)
    try:
        first = run_conveyor(*deploy, cwd=project, timeout=300)
        assert first.returncode == 0, first.stdout + first.stderr
        load.start()
        shop.set_version(project, "v2")
        shop.commit(project, "v2")
        second = run_conveyor(*deploy, cwd=project, timeout=300)
        assert second.returncode == 0, second.stdout + second.stderr
        # The same requirements and python: v1's packages linked, nothing installed.
        assert "files linked, nothing installed" in second.stdout
        assert " -m pip " not in second.stdout
        back = run_conveyor("rollback", "--target", str(target), cwd=project, timeout=300)
        assert back.returncode == 0, back.stdout + back.stderr
        load.done.set()
        load.join(timeout=60)
        assert load.failures == []
        # It was served by v1, then v2, then v1 again, without a gap.
        assert load.bodies.get("shop v1", 0) > 0 and load.bodies.get("shop v2", 0) > 0
    finally:
        load.done.set()
        run_conveyor("deploy", "stop", "--target", str(target), cwd=tmp_path)
