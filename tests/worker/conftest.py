"""Fixtures of the worker's tests: the receiver, a served repository, plans."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conveyor.engine.plan import JobPlan, RunPlan, WorkflowFile
from tests.helpers import git
from tests.worker.receiver import Receiver, serving


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as served:
        yield served


@pytest.fixture
def served_repo(tmp_path: Path) -> Path:
    """A bare repository (what the server's git endpoint serves) with one commit."""
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    (work / "README").write_text("the served repository\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    bare = tmp_path / "served" / "widgets.git"
    bare.parent.mkdir()
    git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)
    return bare


def commit_to(bare: Path, files: dict[str, str], message: str = "more") -> str:
    """Add a commit with ``files`` on the bare repository's main; its sha."""
    work = bare.parent.parent / f"work-{time.monotonic_ns()}"
    git("clone", "-q", str(bare), str(work), cwd=bare.parent)
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    return git("rev-parse", "HEAD", cwd=work).strip()


def head_of(bare: Path) -> str:
    return git("rev-parse", "main", cwd=bare).strip()


def plan_for(workflow: str, sha: str, job_id: str = "build", **job: Any) -> dict[str, Any]:
    """The JSON plan of job ``job_id`` of ``workflow`` (dedented) at commit ``sha``."""
    run = RunPlan(
        workflow=WorkflowFile(".github/workflows/ci.yml", textwrap.dedent(workflow)),
        git={
            "sha": sha,
            "ref": "refs/heads/main",
            "ref_name": "main",
            "repository": "acme/widgets",
            "repository_owner": "acme",
        },
        run_id="41",
        secrets=job.pop("secrets", {}),
    )
    plan = JobPlan(run=run, job_id=job_id, job_key=job_id, name=job_id, **job)
    return plan.to_json()


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, what: str = "it") -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
