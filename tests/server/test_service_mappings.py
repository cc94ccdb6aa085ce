"""A repository's service mappings: set through the API and ``conveyor repo service``, and
used by its runs, whose sandboxed steps reach the mapped service (the machine's real
PostgreSQL) when the sandbox has the host's network, and fail before any step when not."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.server.repos.models import Repository, ServiceMapping
from conveyor.server.runs import services
from conveyor.server.runs.models import LogChunk, Run, Step
from tests.server.conftest import ROOT, GitProject, server_environment, wait_for_run_end
from tests.server.test_api_helpers import Api, cast

HOST, PORT = "127.0.0.1", 5432

WORKFLOW = """\
on: push
jobs:
  tests:
    runs-on: ubuntu-latest
    services:
      postgres:
        image: postgres:16
        ports: ['5432:5432']
    steps:
      - name: Reach the database
        run: pg_isready -h localhost -p ${{ job.services.postgres.ports[5432] }}
"""


@pytest.mark.django_db
def test_mappings_are_set_listed_and_removed_by_the_right_roles(repository):
    people = cast()
    admin, member, viewer = (Api(people[who]) for who in ("admin", "member", "viewer"))
    url = "repositories/shop/services/postgres"
    assert member.put(url, {"address": "127.0.0.1:5432"}).status_code == 403
    created = admin.put(url, {"address": "127.0.0.1:5432"})
    assert created.status_code == 201, created.content
    replaced = admin.put(url, {"address": "db.internal:5433,8080"})
    assert replaced.status_code == 200 and replaced.json()["address"] == "db.internal:5433,8080"
    listed = member.get("repositories/shop/services").json()
    assert [(item["name"], item["address"]) for item in listed] == [
        ("postgres", "db.internal:5433,8080")
    ]
    assert viewer.get("repositories/shop/services").status_code == 403
    bad_address = admin.put(url, {"address": "localhost"})
    assert bad_address.status_code == 400 and bad_address.json()["field"] == "address"
    assert "expected HOST:PORT" in bad_address.json()["detail"]
    bad_name = admin.put("repositories/shop/services/my.db", {"address": "127.0.0.1:1"})
    assert bad_name.status_code == 400 and bad_name.json()["field"] == "service_name"
    assert admin.delete(url).status_code == 204
    assert admin.delete(url).status_code == 404
    assert not ServiceMapping.objects.exists()


@pytest.mark.slow
def test_the_repo_command_sets_lists_and_removes_mappings(tmp_path: Path, git_project: GitProject):
    data = tmp_path / "data"
    git_project.commit({"a.txt": "a\n"})
    git_project.push()

    def conveyor(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "conveyor", "repo", *args],
            env=server_environment(data),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert conveyor("add", "shop", str(git_project.bare)).returncode == 0
    empty = conveyor("service", "shop")
    assert empty.returncode == 0 and "shop maps no services" in empty.stdout
    set_ = conveyor("service", "shop", "postgres=127.0.0.1:5432", "minio=localhost:9000,9001")
    assert set_.returncode == 0, set_.stderr
    assert "shop: service postgres is reached at 127.0.0.1:5432" in set_.stdout
    listed = conveyor("service", "shop")
    assert listed.stdout.splitlines() == ["minio=localhost:9000,9001", "postgres=127.0.0.1:5432"]
    removed = conveyor("service", "shop", "--remove", "minio")
    assert removed.returncode == 0 and "service minio is no longer mapped" in removed.stdout
    assert conveyor("service", "shop").stdout.splitlines() == ["postgres=127.0.0.1:5432"]
    bad = conveyor("service", "shop", "postgres=localhost")
    assert bad.returncode == 2
    assert bad.stderr == (
        "conveyor repo: service 'localhost': expected HOST:PORT, e.g. 127.0.0.1:5432\n"
    )
    unknown = conveyor("service", "nowhere")
    assert unknown.returncode == 2 and "no repository named 'nowhere'" in unknown.stderr


def postgres_answers() -> bool:
    ready = shutil.which("pg_isready")
    return ready is not None and subprocess.run([ready, "-q", "-h", HOST]).returncode == 0


def run_workflow_of(repository: Repository, git_project: GitProject) -> Run:
    git_project.commit({".github/workflows/ci.yml": WORKFLOW})
    before, after = git_project.push()
    [run] = services.create_runs_for_event(
        repository, event="push", ref="refs/heads/main", sha=after, before_sha=before
    )
    return wait_for_run_end(run, timeout=120)


def step_log(run: Run) -> str:
    return "".join(chunk.text for chunk in LogChunk.objects.filter(step__job__run=run))


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="scripts/test installs bubblewrap")
def test_a_sandboxed_job_reaches_the_mapped_postgresql(repository, git_project, workers, settings):
    if not postgres_answers():
        pytest.skip(f"PostgreSQL does not answer on {HOST}:{PORT}")
    assert settings.CONVEYOR_SANDBOX and settings.CONVEYOR_SANDBOX_NETWORK
    ServiceMapping.objects.create(repository=repository, name="postgres", address=f"{HOST}:{PORT}")
    run = run_workflow_of(repository, git_project)
    assert run.status == "success", run.reason
    assert f"localhost:{PORT} - accepting connections" in step_log(run)


@pytest.mark.django_db(transaction=True)
def test_an_unmapped_service_fails_the_job_naming_the_repository_setting(
    repository, git_project, workers
):
    run = run_workflow_of(repository, git_project)
    assert run.status == "failure"
    [job] = run.jobs.all()
    assert job.reason.startswith(
        ".github/workflows/ci.yml:6:7: service 'postgres' is not mapped to a running service"
    )
    assert job.reason.endswith(
        "map it with `conveyor repo service shop postgres=HOST:PORT` "
        "(or PUT /api/repositories/shop/services/postgres)"
    )
    assert not Step.objects.filter(job=job, started_at__isnull=False).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="scripts/test installs bubblewrap")
def test_a_sandbox_without_the_hosts_network_refuses_the_service_before_any_step(
    repository, git_project, workers, settings
):
    settings.CONVEYOR_SANDBOX_NETWORK = False
    ServiceMapping.objects.create(repository=repository, name="postgres", address=f"{HOST}:{PORT}")
    run = run_workflow_of(repository, git_project)
    assert run.status == "failure"
    [job] = run.jobs.all()
    assert job.reason.startswith(
        ".github/workflows/ci.yml:6:7: service 'postgres' cannot be reached: this job's sandbox "
        "has a network of its own (loopback only)"
    )
    assert "CONVEYOR_SANDBOX_NETWORK=true" in job.reason
    assert not Step.objects.filter(job=job, started_at__isnull=False).exists()
