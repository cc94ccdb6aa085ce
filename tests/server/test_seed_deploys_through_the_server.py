"""The seed made real, through the server (issue 12): the Django shop pushed to a
repository the server builds, its ``.conveyor.yml`` (Build, Test, Deploy with
``conveyor/deploy-django@v1``) run by the embedded workers, version after version:

1. v1 deploys and serves;
2. v2 fails a test: nothing deployed, v1 serves;
3. v3 answers /healthz 500: never switched to, its migration reversed, v1 serves;
   v3b turns unhealthy after the switch: rolled back;
4. v4 deploys and serves.

The server runs trusted workflows here (``--no-sandbox``): the deploy runs the project's
code on this machine, which a sandboxed server refuses for a local target.

Real parts: django-admin's project, git push to a bare repository, the server's workers
and database, pip, gunicorn, the deploy's reverse proxy on ``bind``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conveyor.server.repos.models import Repository
from conveyor.server.runs import services
from conveyor.server.runs.models import Deployment, LogChunk, Run
from tests.cli import deploy_projects as shop
from tests.cli.test_deploy_django import applied_migrations, free_port, served
from tests.helpers import VENV_BIN, git, run_conveyor
from tests.server.conftest import wait_for_run_end

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def trusted_server(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.CONVEYOR_SANDBOX = False
    # The jobs' `python` is this venv's, which has Django (the server passes its PATH on).
    monkeypatch.setenv("PATH", VENV_BIN + os.pathsep + os.environ.get("PATH", ""))


@pytest.fixture
def shop_repository(tmp_path: Path, data_dir: Path) -> Iterator[tuple[Path, Path, str, Any]]:
    target = tmp_path / "srv" / "shop"
    bind = f"127.0.0.1:{free_port()}"
    project = shop.make_shop(tmp_path / "shop", target, bind)
    bare = tmp_path / "shop.git"
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    git("remote", "add", "origin", str(bare), cwd=project)
    repository = Repository.objects.create(name="shop", url=str(bare))
    yield project, target, bind, repository
    stopped = run_conveyor("deploy", "stop", "--target", str(target), cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr


def push(project: Path, repository: Any) -> Run:
    git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=project)
    sha = git("rev-parse", "HEAD", cwd=project).strip()
    [run] = services.create_runs_for_event(
        repository, event="push", ref="refs/heads/main", sha=sha, actor="dora"
    )
    return wait_for_run_end(run, timeout=300)


def log_of(run: Run) -> str:
    chunks = LogChunk.objects.filter(step__job__run=run).order_by("step__index", "seq")
    return "\n".join(chunk.text for chunk in chunks)


def test_the_seed_deploys_through_the_server(trusted_server, shop_repository, workers) -> None:
    project, target, bind, repository = shop_repository

    v1 = push(project, repository)
    assert v1.status == "success", v1.reason + log_of(v1)
    assert v1.pipeline_status == "Deployed"
    assert served(bind) == "shop v1"
    [deployed] = Deployment.objects.filter(run=v1)
    assert (deployed.status, deployed.state, deployed.url) == ("success", "live", f"http://{bind}")

    shop.set_version(project, "v2")
    shop.add_failing_test(project)
    shop.commit(project, "v2")
    v2 = push(project, repository)
    assert v2.status == "failure"
    assert v2.pipeline_status == "Test failed"
    assert not Deployment.objects.filter(run=v2).exists()
    assert served(bind) == "shop v1"

    shop.remove_failing_test(project)
    shop.set_version(project, "v3", health="broken")
    shop.add_field(project, "stock")
    shop.commit(project, "v3")
    v3 = push(project, repository)
    assert v3.status == "failure"
    assert v3.pipeline_status == "Deploy failed"
    assert "unhealthy, never switched to" in log_of(v3)
    assert Deployment.objects.get(run=v3).state == "failed"
    assert served(bind) == "shop v1"
    assert applied_migrations(target) == ["0001_initial"]

    shop.set_version(project, "v3b", health="breaks-after-2")
    shop.commit(project, "v3b")
    v3b = push(project, repository)
    assert v3b.status == "failure"
    assert v3b.pipeline_status == "Rolled back"
    assert Deployment.objects.get(run=v3b).state == "rolled-back"
    assert served(bind) == "shop v1"

    shop.set_version(project, "v4")
    shop.commit(project, "v4")
    v4 = push(project, repository)
    assert v4.status == "success", v4.reason + log_of(v4)
    assert v4.pipeline_status == "Deployed"
    assert served(bind) == "shop v4"
    assert applied_migrations(target) == ["0001_initial", "0002_product_stock"]
