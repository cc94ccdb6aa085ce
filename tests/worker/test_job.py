"""A whole job on a worker, from the claim to the finish, against a real HTTP receiver
that speaks the server's side of the protocol: the commit over smart HTTP, the plan
run in a fresh checkout, events in numbered batches, artifacts, the environment gate."""

from __future__ import annotations

import io
import json
import shutil
import socket
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.executors.sandbox import SandboxUnavailable
from conveyor.worker.client import ServerClient
from conveyor.worker.config import WorkerConfig
from conveyor.worker.jobs import Requeue, WorkerJobs
from conveyor.worker.sandboxing import SandboxChoice, choose
from tests.worker.conftest import head_of, plan_for
from tests.worker.receiver import WORKER_TOKEN, Dispatch, Receiver

TOKEN = "the-attempts-token"

WORKFLOW = """\
    on: push
    jobs:
      build:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/checkout@v4
          - run: cat README && echo "token ${{ secrets.TOKEN }}"
          - run: echo "marked=${CONVEYOR_RUN_MARK:+yes} worker-token=${CONVEYOR_WORKER_TOKEN:-none}"
          - run: mkdir -p out && echo built > out/app.txt
          - uses: actions/upload-artifact@v4
            with:
              name: app
              path: out/
"""


def _jobs(
    tmp_path: Path, receiver: Receiver, sandbox: SandboxChoice, directory: Path | None = None
) -> WorkerJobs:
    config = WorkerConfig(
        broker_url="redis://127.0.0.1:6379/0",
        server_url=receiver.url,
        worker_token=WORKER_TOKEN,
        name="test@here",
        directory=directory or tmp_path / "worker",
        concurrency=1,
        labels=["linux", "self-hosted"],
    )
    return WorkerJobs(config, ServerClient(receiver.url, WORKER_TOKEN, timeout=10), sandbox)


@pytest.fixture
def reachable_dir() -> Iterator[Path]:
    """A worker directory a root worker's sandbox user can pass through (pytest's own
    temporary directories are closed to other users)."""
    path = Path(tempfile.mkdtemp(prefix="conveyor-worker-test-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _sandbox_or_skip(directory: Path) -> SandboxChoice:
    (directory / "workspaces").mkdir(parents=True, exist_ok=True)
    (directory / "workspaces").chmod(0o711)
    try:
        return choose(True, directory / "workspaces")
    except SandboxUnavailable as unavailable:
        pytest.skip(f"no sandbox on this machine: {unavailable}")


@pytest.mark.parametrize("sandboxed", [False, True], ids=["unsandboxed", "sandboxed"])
def test_a_job_runs_from_its_claim_to_its_finish(
    reachable_dir: Path, receiver: Receiver, served_repo: Path, sandboxed: bool
) -> None:
    sandbox = _sandbox_or_skip(reachable_dir) if sandboxed else SandboxChoice()
    sha = head_of(served_repo)
    plan = plan_for(WORKFLOW, sha, secrets={"TOKEN": "s3cr3t-value"})
    dispatch = Dispatch(token=TOKEN, plan=plan, repository="widgets", repo_dir=served_repo)
    receiver.add(11, dispatch)
    receiver.refuse(11, "events", 503)  # the server is busy at first: nothing is lost
    jobs = _jobs(reachable_dir, receiver, sandbox, directory=reachable_dir)

    assert jobs.run(11, TOKEN) == "success"

    assert dispatch.claimed_by == "test@here"
    events = dispatch.events()
    kinds = [event["type"] for event in events]
    assert kinds[0] == "job_started" and kinds[-1] == "job_finished"
    log = "\n".join(event["text"] for event in events if event["type"] == "log")
    assert "the served repository" in log  # the checkout of the claimed commit
    assert "token ***" in log and "s3cr3t-value" not in json.dumps(events)
    assert "marked=yes worker-token=none" in log  # the mark, never the worker's settings
    seqs = sorted(dispatch.batches)
    assert seqs == list(range(1, len(seqs) + 1))
    assert dispatch.finished is not None
    assert dispatch.finished["result"]["status"] == "success"
    # upload-artifact's files went up before the finish
    archive = dispatch.artifacts["app/artifact.tar.gz"]
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = tar.getnames()
    assert any(name.endswith("app.txt") for name in names)
    assert "app/artifact.json" in dispatch.artifacts and ":lock" not in dispatch.artifacts
    # the job's workspace and artifacts are gone, the mirror stays for the next job
    assert not (reachable_dir / "workspaces" / "11").exists()
    assert not (reachable_dir / "artifacts" / "11").exists()
    assert list((reachable_dir / "mirrors").glob("*.git"))
    assert jobs.running() == []


def test_a_dispatch_claimed_elsewhere_is_dropped(
    tmp_path: Path, receiver: Receiver, served_repo: Path
) -> None:
    plan = plan_for(WORKFLOW, head_of(served_repo))
    dispatch = Dispatch(token=TOKEN, plan=plan, repository="widgets", repo_dir=served_repo)
    dispatch.claimed_by = "another@worker"
    receiver.add(12, dispatch)
    assert _jobs(tmp_path, receiver, SandboxChoice()).run(12, TOKEN) == "not this worker's"
    assert dispatch.batches == {} and dispatch.finished is None


def test_a_commit_that_cannot_be_fetched_fails_the_job_with_the_reason(
    tmp_path: Path, receiver: Receiver, served_repo: Path
) -> None:
    plan = plan_for(WORKFLOW, "ab" * 20)
    dispatch = Dispatch(token=TOKEN, plan=plan, repository="widgets", repo_dir=served_repo)
    receiver.add(13, dispatch)
    assert _jobs(tmp_path, receiver, SandboxChoice()).run(13, TOKEN) == "failure"
    assert dispatch.finished is not None
    reason = dispatch.finished["result"]["reason"]
    assert reason.startswith("cannot check out the commit")
    assert dispatch.events()[-1]["type"] == "job_finished"


def test_a_plan_from_another_version_fails_the_job_and_says_so(
    tmp_path: Path, receiver: Receiver, served_repo: Path
) -> None:
    plan = plan_for(WORKFLOW, head_of(served_repo))
    plan["format"] = 99
    dispatch = Dispatch(token=TOKEN, plan=plan, repository="widgets", repo_dir=served_repo)
    receiver.add(14, dispatch)
    assert _jobs(tmp_path, receiver, SandboxChoice()).run(14, TOKEN) == "failure"
    assert dispatch.finished is not None
    assert "same version" in dispatch.finished["result"]["reason"]


DEPLOY = """\
    on: push
    jobs:
      deploy:
        runs-on: ubuntu-latest
        environment:
          name: production
          url: https://example.test/app
        steps:
          - run: echo "deploying with ${{ secrets.DEPLOY_KEY }} to ${{ vars.TARGET }}"
"""


def test_the_environment_gate_waits_then_gets_the_environments_secrets(
    tmp_path: Path, receiver: Receiver, served_repo: Path
) -> None:
    plan = plan_for(DEPLOY, head_of(served_repo), job_id="deploy")
    dispatch = Dispatch(token=TOKEN, plan=plan, repository="widgets", repo_dir=served_repo)
    receiver.add(15, dispatch)
    receiver.environment_answers[15].extend(
        [
            (202, {"waiting": "waiting for approval"}),
            (200, {"secrets": {"DEPLOY_KEY": "k3y-value"}, "variables": {"TARGET": "prod-1"}}),
        ]
    )
    jobs = _jobs(tmp_path, receiver, SandboxChoice())
    jobs.environment_poll_seconds = 0.01  # ask again at once after "wait"
    assert jobs.run(15, TOKEN) == "success"
    assert (
        dispatch.environment_asks == [{"name": "production", "url": "https://example.test/app"}] * 2
    )
    log = "\n".join(e["text"] for e in dispatch.events() if e["type"] == "log")
    assert "deploying with *** to prod-1" in log
    assert dispatch.releases == [{"status": "success", "url": "https://example.test/app"}]


def test_a_refused_environment_ends_the_job_with_the_servers_reason(
    tmp_path: Path, receiver: Receiver, served_repo: Path
) -> None:
    plan = plan_for(DEPLOY, head_of(served_repo), job_id="deploy")
    dispatch = Dispatch(token=TOKEN, plan=plan, repository="widgets", repo_dir=served_repo)
    receiver.add(16, dispatch)
    receiver.environment_answers[16].append(
        (403, {"reason": "branch main may not deploy to production", "status": "failure"})
    )
    assert _jobs(tmp_path, receiver, SandboxChoice()).run(16, TOKEN) == "failure"
    assert dispatch.finished is not None
    assert "may not deploy" in dispatch.finished["result"]["reason"]
    log = [e for e in dispatch.events() if e["type"] == "log"]
    assert not any("deploying" in e["text"] for e in log)


def test_a_stopping_worker_that_cannot_reach_the_server_hands_the_job_back(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{probe.getsockname()[1]}"
    config = WorkerConfig(
        broker_url="redis://127.0.0.1:6379/0",
        server_url=nowhere,
        worker_token=WORKER_TOKEN,
        name="test@here",
        directory=tmp_path / "worker",
    )
    jobs = WorkerJobs(config, ServerClient(nowhere, WORKER_TOKEN, timeout=5), SandboxChoice())
    jobs.stopping.set()
    with pytest.raises(Requeue):
        jobs.run(17, TOKEN)
    assert jobs.running() == []
