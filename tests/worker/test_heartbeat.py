"""The worker's heartbeat: what it tells the server, and the server's answer obeyed
(the queues to consume, the running jobs to cancel)."""

from __future__ import annotations

import threading
from pathlib import Path

from conveyor.engine.runner_labels import HostLabels
from conveyor.worker.client import ServerClient
from conveyor.worker.config import WorkerConfig, worker_labels
from conveyor.worker.heartbeat import Heartbeat
from conveyor.worker.jobs import WorkerJobs
from conveyor.worker.sandboxing import SandboxChoice
from tests.worker.conftest import head_of, plan_for, wait_for
from tests.worker.receiver import WORKER_TOKEN, Dispatch, Receiver


def _jobs(tmp_path: Path, receiver: Receiver) -> WorkerJobs:
    config = WorkerConfig(
        broker_url="redis://127.0.0.1:6379/0",
        server_url=receiver.url,
        worker_token=WORKER_TOKEN,
        name="beating@test",
        directory=tmp_path / "w",
        concurrency=3,
        labels=["gpu", "linux", "x64", "self-hosted"],
    )
    return WorkerJobs(config, ServerClient(receiver.url, WORKER_TOKEN), SandboxChoice())


def test_the_heartbeat_says_who_the_worker_is_and_takes_the_queues(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.queues = ["conveyor.jobs.gpu", "conveyor.jobs.linux"]
    named: list[list[str]] = []
    heartbeat = Heartbeat(receiver_client(receiver), _jobs(tmp_path, receiver), named.append)
    assert heartbeat.beat()
    body = receiver.heartbeats[-1]
    assert body["name"] == "beating@test" and body["concurrency"] == 3
    assert body["labels"] == ["gpu", "linux", "x64", "self-hosted"]
    assert body["running"] == [] and body["stopping"] is False
    assert body["started_at"].endswith("+00:00") and body["version"]
    assert named == [["conveyor.jobs.gpu", "conveyor.jobs.linux"]]


def test_a_job_the_heartbeat_answer_names_is_cancelled(
    tmp_path: Path, receiver: Receiver, served_repo: Path
) -> None:
    workflow = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
    workflow += "      - run: sleep 600\n"
    dispatch = Dispatch(
        token="t51",
        plan=plan_for(workflow, head_of(served_repo)),
        repository="widgets",
        repo_dir=served_repo,
    )
    receiver.add(51, dispatch)
    jobs = _jobs(tmp_path, receiver)
    outcome: list[str] = []
    runner = threading.Thread(target=lambda: outcome.append(jobs.run(51, "t51")))
    runner.start()
    wait_for(lambda: any(e["type"] == "step_started" for e in dispatch.events()), what="the step")
    heartbeat = Heartbeat(receiver_client(receiver), jobs, lambda queues: None)
    receiver.cancel_ids = [51, 999]  # 999: not this worker's, ignored
    assert heartbeat.beat()
    assert receiver.heartbeats[-1]["running"] == [51]
    runner.join(60)
    assert outcome == ["cancelled"]
    assert dispatch.finished is not None and dispatch.finished["result"]["status"] == "cancelled"


def test_labels_are_the_given_ones_this_machines_and_self_hosted() -> None:
    host = HostLabels(system="Linux", machine="aarch64")
    assert worker_labels(" GPU, big ,,gpu", host) == ["gpu", "big", "linux", "arm64", "self-hosted"]
    assert worker_labels(None, host) == ["linux", "arm64", "self-hosted"]


def receiver_client(receiver: Receiver) -> ServerClient:
    return ServerClient(receiver.url, WORKER_TOKEN, timeout=10)
