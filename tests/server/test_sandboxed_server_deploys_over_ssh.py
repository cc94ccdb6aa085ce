"""A sandboxed server deploys (issue 12): the job packs the project inside its sandbox,
the server streams the tar over SSH to the target, where the release is made and
served; a directory target is refused; the environment's Rollback logs in with the
environment's DEPLOY_SSH_KEY and DEPLOY_SSH_KNOWN_HOSTS.

Real parts: bubblewrap, a real sshd on 127.0.0.1, django-admin's project, git push,
the embedded workers, pip and gunicorn on the target, the deploy's proxy."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conveyor.server.repos.models import Environment, EnvironmentSecret, EnvironmentVariable
from conveyor.server.runs.models import Deployment
from tests.cli import deploy_projects as shop
from tests.cli.test_deploy_django import served
from tests.helpers import git, run_conveyor
from tests.server.conftest import free_port, reachable_directory, wait_for
from tests.server.test_api_helpers import Api, cast
from tests.server.test_seed_deploys_through_the_server import log_of, push
from tests.sshd import Sshd

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="scripts/test installs bubblewrap"),
]


def workflow(target: str, bind: str) -> str:
    return shop.production_workflow(
        target,
        bind,
        watch_seconds="1",
        ssh_key="${{ secrets.DEPLOY_SSH_KEY }}",
        ssh_known_hosts="${{ vars.DEPLOY_SSH_KNOWN_HOSTS }}",
    )


@pytest.fixture
def shop_over_ssh(sshd: Sshd, data_dir: Path, settings: Any) -> Iterator[tuple[Path, Any, Any]]:
    assert settings.CONVEYOR_SANDBOX
    root = Path(reachable_directory("conveyor-ssh-shop-"))
    path = root / "srv" / "shop"
    bind = f"127.0.0.1:{free_port()}"
    project = shop.make_shop(root / "shop", path, bind)
    (project / ".conveyor.yml").write_text(workflow(sshd.target(path), bind))
    shop.commit(project, "deploy over ssh")
    bare = root / "shop.git"
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=root)
    git("remote", "add", "origin", str(bare), cwd=project)
    from conveyor.server.repos.models import Repository

    repository = Repository.objects.create(name="shop", url=str(bare))
    production = Environment.objects.create(repository=repository, name="production")
    key = EnvironmentSecret(environment=production, name="DEPLOY_SSH_KEY")
    key.set(sshd.client_key.read_text())
    key.save()
    EnvironmentVariable.objects.create(
        environment=production, name="DEPLOY_SSH_KNOWN_HOSTS", value=sshd.known_hosts_line()
    )
    yield project, repository, bind
    known_hosts = root / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line())
    stop = ["deploy", "stop", "--target", sshd.target(path), "--ssh-key", str(sshd.client_key)]
    stopped = run_conveyor(*stop, "--known-hosts", str(known_hosts), cwd=root)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def test_a_sandboxed_server_deploys_over_ssh_and_rolls_back(shop_over_ssh, workers) -> None:
    project, repository, bind = shop_over_ssh
    v1 = push(project, repository)
    assert v1.status == "success", v1.reason + log_of(v1)
    assert served(bind) == "shop v1"
    assert "-----BEGIN" not in log_of(v1)  # the key is a secret: never shown

    shop.set_version(project, "v2")
    shop.commit(project, "v2")
    v2 = push(project, repository)
    assert v2.status == "success", v2.reason + log_of(v2)
    assert served(bind) == "shop v2"
    assert Deployment.objects.get(run=v2).state == "live"

    member = Api(cast()["member"])
    reply = member.post("repositories/shop/environments/production/rollback", {})
    assert reply.status_code == 202, reply.content
    row = wait_for(
        lambda: Deployment.objects.filter(
            pk=reply.json()["id"], status__in=("success", "failure")
        ).first(),
        timeout=180,
        what="the rollback over ssh to end",
    )
    assert row.status == "success", row.reason
    assert served(bind) == "shop v1"


def test_a_sandboxed_job_deploying_to_a_directory_is_refused(shop_over_ssh, workers) -> None:
    project, repository, bind = shop_over_ssh
    local = project.parent / "srv" / "local"
    (project / ".conveyor.yml").write_text(workflow(str(local), bind))
    shop.commit(project, "deploy to a directory")
    run = push(project, repository)
    assert run.status == "failure"
    assert "a sandboxed job deploys to ssh:// targets only" in log_of(run)
    assert not local.exists()
