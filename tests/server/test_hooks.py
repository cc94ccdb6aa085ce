"""The local ``post-receive`` hook: installed into a real bare repository, run by real pushes."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from conveyor.server.repos import ref_state
from conveyor.server.repos.hooks.install import (
    HookError,
    bare_repository,
    install_hook,
    remove_hook,
)
from conveyor.server.repos.hooks.script import CHAINED_NAME
from conveyor.server.repos.models import Delivery
from conveyor.server.runs.models import Run
from tests.server.conftest import GitProject, free_port, git

WORKFLOW = """\
on:
  push:
    branches: [main]
    tags: ["v*"]
steps:
  - run: echo built
"""
ZERO = "0" * 40


def push_output(project: GitProject, *refspec: str) -> subprocess.CompletedProcess[str]:
    """A real ``git push``; the hook's words come back on stderr as ``remote: ...``."""
    return subprocess.run(
        ["git", "push", "origin", *(refspec or ("HEAD:refs/heads/main",))],
        cwd=project.work,
        capture_output=True,
        text=True,
        check=False,
    )


def test_push_succeeds_and_says_so_when_the_server_is_down(git_project: GitProject):
    hooks = git_project.bare / "hooks"
    previous = hooks / "post-receive"
    seen = git_project.bare.parent / "previous-hook-saw.txt"
    previous.write_text(f"#!/bin/sh\ncat > {seen}\n")
    previous.chmod(0o755)
    url = f"http://127.0.0.1:{free_port()}"
    install_hook(git_project.bare, name="shop", base_url=url, secret="s3cret")

    sha = git_project.commit({"a.txt": "a\n"})
    pushed = push_output(git_project)

    assert pushed.returncode == 0, pushed.stderr
    assert (
        f"conveyor: server not reachable at {url}; the push will be picked up when it starts"
        in pushed.stderr
    )
    # The hook that was there before still ran, with the same input.
    assert seen.read_text().split() == [ZERO, sha, "refs/heads/main"]
    assert (hooks / CHAINED_NAME).exists()
    assert "s3cret" in (hooks / "post-receive").read_text()
    assert (hooks / "post-receive").stat().st_mode & 0o077 == 0  # it holds the secret


def test_a_server_that_does_not_answer_in_time_does_not_hold_the_push(
    git_project: GitProject,
):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        install_hook(git_project.bare, name="shop", base_url=url, secret="s")
        git_project.commit({"a.txt": "a\n"})
        started = time.monotonic()
        pushed = subprocess.run(
            ["git", "push", "origin", "HEAD:refs/heads/main"],
            cwd=git_project.work,
            capture_output=True,
            text=True,
            env={**os.environ, "CONVEYOR_HOOK_TIMEOUT": "0.5"},
        )
    assert pushed.returncode == 0
    assert time.monotonic() - started < 10
    assert f"the server at {url} did not answer in time" in pushed.stderr


def test_remove_puts_the_previous_hook_back(git_project: GitProject):
    hooks = git_project.bare / "hooks"
    (hooks / "post-receive").write_text("#!/bin/sh\necho mine\n")
    install_hook(git_project.bare, name="shop", base_url="http://127.0.0.1:1", secret="s")
    install_hook(git_project.bare, name="shop", base_url="http://127.0.0.1:2", secret="s")
    assert "127.0.0.1:2" in (hooks / "post-receive").read_text()
    assert remove_hook(git_project.bare) is True
    assert (hooks / "post-receive").read_text() == "#!/bin/sh\necho mine\n"
    assert not (hooks / CHAINED_NAME).exists()
    assert remove_hook(git_project.bare) is False  # not ours: left alone


def test_only_bare_repositories_take_the_hook(git_project: GitProject, tmp_path: Path):
    with pytest.raises(HookError, match="not a bare repository"):
        bare_repository(git_project.work / ".git")
    with pytest.raises(HookError, match="no such directory"):
        bare_repository(tmp_path / "missing.git")
    assert bare_repository(git_project.bare) == git_project.bare.resolve()


def test_a_real_push_reaches_the_live_server_and_queues_a_run(
    live_server: Any, git_project: GitProject, repository: Any
):
    install_hook(
        git_project.bare, name="shop", base_url=live_server.url, secret=repository.webhook_secret
    )
    sha = git_project.commit({".conveyor.yml": WORKFLOW}, "Add the pipeline")
    pushed = push_output(git_project)
    assert pushed.returncode == 0
    assert "conveyor: refs/heads/main: run #1 (.conveyor.yml) queued" in pushed.stderr
    [run] = Run.objects.all()
    assert (run.event, run.ref, run.sha, run.before_sha) == ("push", "refs/heads/main", sha, "")
    assert run.commit_message == "Add the pipeline"
    assert Delivery.objects.get().provider == "local"

    # A branch the workflow does not build, then a deletion: nothing runs.
    pushed = push_output(git_project, "HEAD:refs/heads/feature")
    assert "refs/heads/feature: no workflow runs on this push" in pushed.stderr
    pushed = push_output(git_project, ":refs/heads/feature")
    assert "refs/heads/feature deleted: nothing to run" in pushed.stderr
    assert Run.objects.count() == 1

    # An invalid workflow: the run fails at once, and the pusher is told why.
    git_project.commit({".conveyor.yml": "on: push\nsteps:\n  - run: [oops\n"})
    pushed = push_output(git_project)
    assert "conveyor: refs/heads/main: run #2 (.conveyor.yml) failure" in pushed.stderr
    assert "conveyor:   .conveyor.yml:4:1: YAML syntax error" in pushed.stderr


# The endpoint itself, through Django's request stack.


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def notify(client: Any, secret: str, lines: list[str], delivery: str | None = None) -> Any:
    body = json.dumps({"delivery": delivery or str(uuid.uuid4()), "lines": lines}).encode()
    return client.post(
        "/hooks/local/shop",
        data=body,
        content_type="application/json",
        headers={"X-Conveyor-Signature": sign(secret, body)},
    )


@pytest.fixture
def main_pushed(git_project: GitProject) -> tuple[str, str]:
    return git_project.commit({".conveyor.yml": WORKFLOW}), git_project.push()[1]


@pytest.mark.django_db
def test_signed_notification_runs_each_ref_once(client, repository, git_project, main_pushed):
    sha = main_pushed[1]
    git("tag", "-a", "v1", "-m", "one", cwd=git_project.work)
    git("push", "-q", "origin", "v1", cwd=git_project.work)
    tag_object = git("rev-parse", "v1", cwd=git_project.work).strip()
    lines = [f"{ZERO} {sha} refs/heads/main", f"{ZERO} {tag_object} refs/tags/v1"]
    response = notify(client, repository.webhook_secret, lines, delivery="n-1")
    assert response.status_code == 200, response.content
    runs = {run.ref: run.sha for run in Run.objects.all()}
    assert runs == {"refs/heads/main": sha, "refs/tags/v1": sha}  # the tag peeled to its commit
    # The same notification again (a replay) and a new one for the same update: run once.
    assert notify(client, repository.webhook_secret, lines, "n-1").json()["status"] == "duplicate"
    again = notify(client, repository.webhook_secret, lines[:1], "n-2").json()
    assert again["messages"] == ["refs/heads/main: already seen; not run again"]
    assert Run.objects.count() == 2


@pytest.mark.django_db
def test_bad_signature_records_nothing(client, repository, main_pushed):
    body = json.dumps({"delivery": "x", "lines": [f"{ZERO} {main_pushed[1]} refs/heads/main"]})
    response = client.post(
        "/hooks/local/shop",
        data=body.encode(),
        content_type="application/json",
        headers={"X-Conveyor-Signature": sign("guess", body.encode())},
    )
    assert response.status_code == 403
    response = client.post("/hooks/local/shop", data=body, content_type="application/json")
    assert response.status_code == 401
    assert Run.objects.count() == 0 and Delivery.objects.count() == 0


@pytest.mark.django_db
def test_malformed_lines_get_a_clear_400(client, repository):
    response = notify(client, repository.webhook_secret, ["not a push line"])
    assert response.status_code == 400
    assert "line 1 is not 'old-sha new-sha ref'" in response.json()["error"]


@pytest.mark.django_db
def test_claims_run_a_change_once(repository):
    assert ref_state.claim(repository.id, "refs/heads/main", "a" * 40) is True
    assert ref_state.claim(repository.id, "refs/heads/main", "a" * 40) is False
    assert ref_state.claim(repository.id, "refs/heads/main", "b" * 40) is True
    ref_state.release(repository.id, "refs/heads/main", "b" * 40, "a" * 40)
    assert ref_state.known(repository.id) == {"refs/heads/main": "a" * 40}
