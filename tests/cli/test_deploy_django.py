"""The seed made real (issue 12): a Django shop built, tested and deployed by
``conveyor run`` with ``conveyor/deploy-django@v1`` to a directory, through the versions
the issue names, then rolled back, shown and stopped from the command line.

Real parts: django-admin's project, pip and the venv of each release, gunicorn,
SQLite migrations, HTTP through the deploy's reverse proxy on ``bind``."""

from __future__ import annotations

import http.client
import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.deploy.state import Target
from tests.cli import deploy_projects as shop
from tests.helpers import run_conveyor

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    target = tmp_path / "srv" / "shop"
    bind = f"127.0.0.1:{free_port()}"
    project = shop.make_shop(tmp_path / "shop", target, bind)
    yield project, target, bind
    # Every gunicorn the deploys started, and the proxy, stopped.
    stopped = run_conveyor("deploy", "stop", "--target", str(target), cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    for name in Target(str(target)).release_names():
        assert Target(str(target)).load(name).pid == 0


def get(address: str, path: str = "/") -> tuple[int, str]:
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path, headers={"Host": "shop.example"})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def served(bind: str) -> str:
    """What a request on ``bind`` gets."""
    status, body = get(bind)
    assert status == 200, body
    return body.strip()


def applied_migrations(target: Path) -> list[str]:
    with sqlite3.connect(target / "shared" / "db.sqlite3") as database:
        rows = database.execute("SELECT name FROM django_migrations WHERE app = 'shop'")
        return sorted(name for (name,) in rows)


def product_columns(target: Path) -> list[str]:
    with sqlite3.connect(target / "shared" / "db.sqlite3") as database:
        return [row[1] for row in database.execute("PRAGMA table_info(shop_product)")]


def pipeline_status(result_stdout: str) -> str:
    return result_stdout.rstrip().rsplit("pipeline_status: ", 1)[1]


def deployment_states(result) -> list[str]:
    return [event["state"] for event in result.events() if event["type"] == "deployment"]


def test_the_seed_deploys_refuses_rolls_back_and_stops(
    deployment: tuple[Path, Path, str],
) -> None:
    project, target, bind = deployment
    releases = Target(str(target))

    # 1. v1: built, tested, deployed; bind serves v1.
    v1 = run_conveyor("run", cwd=project, timeout=300)
    assert v1.returncode == 0, v1.stdout + v1.stderr
    assert pipeline_status(v1.stdout) == "Deployed"
    assert served(bind) == "shop v1"
    first = releases.current()
    assert first is not None and os.path.isdir(target / "releases" / first / ".venv")
    assert (target / "releases" / first / "staticfiles" / "admin").is_dir()  # collectstatic
    assert (target / "releases" / first / "media").resolve() == target / "shared" / "media"
    assert applied_migrations(target) == ["0001_initial"]

    # 2. v2 with a failing test: stops at Test, nothing deployed, v1 serves.
    shop.set_version(project, "v2")
    shop.add_failing_test(project)
    shop.commit(project, "v2")
    v2 = run_conveyor("run", cwd=project, timeout=300)
    assert v2.returncode == 1
    assert pipeline_status(v2.stdout) == "Test failed"
    assert releases.release_names() == [first]
    assert served(bind) == "shop v1"

    # 3. v3: tests pass, a migration, /healthz answers 500: started beside v1, never
    # switched to, its migration reversed; v1 serves; exit 1; the tracker says so.
    shop.remove_failing_test(project)
    shop.set_version(project, "v3", health="broken")
    shop.add_field(project, "stock")
    shop.commit(project, "v3")
    v3 = run_conveyor("run", "--json", cwd=project, timeout=300)
    assert v3.returncode == 1, v3.stdout + v3.stderr
    assert deployment_states(v3) == ["deploying", "health-checking", "failed"]
    pipeline = next(event for event in v3.events() if event["type"] == "pipeline")
    assert pipeline["pipeline_status"] == "Deploy failed"
    log = "\n".join(v3.log_lines(2))
    assert "unhealthy, never switched to" in log and "answered 500" in log
    assert "0002_product_stock" in log  # migrate --plan shown
    assert releases.current() == first
    assert served(bind) == "shop v1"
    assert applied_migrations(target) == ["0001_initial"]
    assert "stock" not in product_columns(target)
    third = releases.release_names()[-1]
    assert releases.load(third).state == "failed" and releases.load(third).pid == 0

    # 3b. healthy when checked, unhealthy right after the switch: rolled back.
    shop.set_version(project, "v3b", health="breaks-after-2")
    shop.commit(project, "v3b")
    v3b = run_conveyor("run", "--json", cwd=project, timeout=300)
    assert v3b.returncode == 1, v3b.stdout + v3b.stderr
    assert deployment_states(v3b) == ["deploying", "health-checking", "live", "rolled-back"]
    pipeline = next(event for event in v3b.events() if event["type"] == "pipeline")
    assert pipeline["pipeline_status"] == "Rolled back"
    assert "unhealthy after the switch, rolled back" in "\n".join(v3b.log_lines(2))
    # What a server's health watch checks once it is live: the bind, the health path, a
    # Host the project's ALLOWED_HOSTS accepts.
    live = next(e for e in v3b.events() if e["type"] == "deployment" and e["state"] == "live")
    assert (live["url"], live["health_path"]) == (f"http://{bind}", "/healthz")
    assert live["health_host"] == "shop.example"
    assert releases.current() == first
    assert served(bind) == "shop v1"
    assert applied_migrations(target) == ["0001_initial"]

    # 4. v4, good: v4 serves, its migration applied, v1's server stopped.
    shop.set_version(project, "v4")
    shop.commit(project, "v4")
    v4 = run_conveyor("run", cwd=project, timeout=300)
    assert v4.returncode == 0, v4.stdout + v4.stderr
    assert pipeline_status(v4.stdout) == "Deployed"
    assert served(bind) == "shop v4"
    assert applied_migrations(target) == ["0001_initial", "0002_product_stock"]
    fourth = releases.current()
    assert fourth != first and releases.load(first).pid == 0

    # status: the current release, the earlier ones, the server's pid and health.
    status = run_conveyor("deploy", "status", "--target", str(target), cwd=project)
    assert status.returncode == 0, status.stderr
    current_line = next(line for line in status.stdout.splitlines() if line.startswith("*"))
    assert fourth in current_line and "live" in current_line and "healthy" in current_line
    assert f"pid {releases.load(fourth).pid}" in current_line
    assert f"current: {fourth}" in status.stdout

    # rollback: back to v1, v4's migration reversed.
    back = run_conveyor("rollback", "--target", str(target), cwd=project)
    assert back.returncode == 0, back.stdout + back.stderr
    assert releases.current() == first
    assert served(bind) == "shop v1"
    assert applied_migrations(target) == ["0001_initial"]
    assert releases.load(fourth).state == "rolled-back"

    # --to a release: v4 again.
    again = run_conveyor("rollback", "--target", str(target), "--to", fourth, cwd=project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert served(bind) == "shop v4"
    assert applied_migrations(target) == ["0001_initial", "0002_product_stock"]
    assert releases.load(first).pid == 0  # v1's server retired

    # An irreversible migration is refused: nothing applied, v4 still serves.
    shop.set_version(project, "v5")
    shop.add_irreversible_migration(project, "fill_stock")
    shop.commit(project, "v5")
    v5 = run_conveyor("run", cwd=project, timeout=300)
    assert v5.returncode == 1, v5.stdout + v5.stderr
    assert "migrations Django cannot reverse" in v5.stdout
    assert "shop.0003_fill_stock: Raw Python operation" in v5.stdout
    assert "0003_fill_stock" not in applied_migrations(target)
    assert served(bind) == "shop v4"
