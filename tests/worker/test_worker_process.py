"""``conveyor worker`` as a real process: Celery on a real Redis, the receiver as its
server. Jobs arrive on the default queue and on the queues the heartbeat names; SIGTERM
lets the running job finish while the heartbeat says the worker is stopping; a worker
started after a SIGKILL ends the steps its predecessor left running."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.server.dispatch.protocol import DEFAULT_QUEUE, RUN_JOB_TASK, queue_for
from tests.helpers import conveyor_env
from tests.worker.conftest import head_of, plan_for, wait_for
from tests.worker.receiver import WORKER_TOKEN, Dispatch, Receiver

REDIS = "127.0.0.1", 6379


def _redis_url() -> str:
    import redis

    try:
        redis.Redis(*REDIS, socket_timeout=2).ping()
    except redis.RedisError as error:
        pytest.skip(
            f"NO REDIS ON {REDIS[0]}:{REDIS[1]} ({error}): the worker process tests did not run"
        )
    # A database of its own, so that other tests' messages never reach this worker.
    return f"redis://{REDIS[0]}:{REDIS[1]}/{random.randint(9, 15)}"


@pytest.fixture
def broker() -> Iterator[object]:
    from celery import Celery

    app = Celery("conveyor-worker-tests", broker=_redis_url(), set_as_current=False)
    app.conf.task_create_missing_queues = True
    yield app
    app.close()


def _start(tmp_path: Path, receiver: Receiver, broker: object, *args: str) -> subprocess.Popen:
    env = conveyor_env(
        CONVEYOR_BROKER_URL=broker.conf.broker_url,  # type: ignore[attr-defined]
        CONVEYOR_SERVER_URL=receiver.url,
        CONVEYOR_WORKER_TOKEN=WORKER_TOKEN,
    )
    with open(tmp_path / "worker.log", "ab") as log:  # the process has its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "conveyor", "worker", "--no-sandbox", "--dir",
             str(tmp_path / "w"), *args],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=tmp_path,
        )  # fmt: skip


def _send(broker: object, dispatch_id: int, token: str, queue: str = DEFAULT_QUEUE) -> None:
    broker.send_task(RUN_JOB_TASK, args=[dispatch_id, token], queue=queue)  # type: ignore[attr-defined]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _log(tmp_path: Path) -> str:
    return (tmp_path / "worker.log").read_text(errors="replace")


def _job(receiver: Receiver, served_repo: Path, dispatch_id: int, steps: str) -> Dispatch:
    workflow = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n" + steps
    token = f"token-{dispatch_id}"
    dispatch = Dispatch(
        token=token,
        plan=plan_for(workflow, head_of(served_repo)),
        repository="widgets",
        repo_dir=served_repo,
    )
    receiver.add(dispatch_id, dispatch)
    return dispatch


def test_jobs_from_the_default_queue_and_from_queues_the_heartbeat_names(
    tmp_path: Path, receiver: Receiver, served_repo: Path, broker: object
) -> None:
    gpu_queue = queue_for(["gpu", "linux"])
    receiver.queues = [gpu_queue]
    worker = _start(tmp_path, receiver, broker, "--name", "one@test", "--labels", "GPU,big",
                    "--concurrency", "2")  # fmt: skip
    try:
        first = _job(receiver, served_repo, 21, "      - run: echo first job\n")
        second = _job(receiver, served_repo, 22, "      - run: echo second job\n")
        _send(broker, 21, first.token)
        _send(broker, 22, second.token, queue=gpu_queue)
        for dispatch in (first, second):
            wait_for(
                lambda d=dispatch: d.finished, what=f"the job's finish; log:\n{_log(tmp_path)}"
            )
            assert dispatch.finished["result"]["status"] == "success"  # type: ignore[index]
            assert dispatch.claimed_by == "one@test"
        beat = receiver.heartbeats[-1]
        assert beat["name"] == "one@test" and beat["concurrency"] == 2
        assert beat["labels"][:2] == ["gpu", "big"] and "self-hosted" in beat["labels"]
        assert beat["system"] == os.uname().sysname and beat["stopping"] is False
    finally:
        _stop(worker)
    assert worker.returncode == 0, _log(tmp_path)


def test_sigterm_lets_the_running_job_finish_and_says_stopping(
    tmp_path: Path, receiver: Receiver, served_repo: Path, broker: object
) -> None:
    go = tmp_path / "go"
    dispatch = _job(
        receiver,
        served_repo,
        31,
        f"      - run: until [ -e {go} ]; do sleep 0.05; done; echo released\n",
    )
    worker = _start(tmp_path, receiver, broker, "--name", "two@test")
    try:
        _send(broker, 31, dispatch.token)
        wait_for(lambda: any(e["type"] == "step_started" for e in dispatch.events()),
                 what=f"the step's start; log:\n{_log(tmp_path)}")  # fmt: skip
        worker.send_signal(signal.SIGTERM)
        wait_for(
            lambda: any(b["stopping"] and b["running"] == [31] for b in receiver.heartbeats),
            what="a heartbeat saying the worker stops while its job runs",
        )
        assert worker.poll() is None  # the job is not done: the worker waits for it
        go.touch()
        assert worker.wait(60) == 0, _log(tmp_path)
    finally:
        go.touch()
        _stop(worker)
    assert dispatch.finished is not None
    assert dispatch.finished["result"]["status"] == "success"
    assert receiver.heartbeats[-1]["stopping"] and receiver.heartbeats[-1]["running"] == []


def test_a_worker_ends_the_steps_its_killed_predecessor_left(
    tmp_path: Path, receiver: Receiver, served_repo: Path, broker: object
) -> None:
    import psutil

    pid_file = tmp_path / "step.pid"
    dispatch = _job(
        receiver, served_repo, 41, f"      - run: echo $$ > {pid_file}; exec sleep 600\n"
    )
    worker = _start(tmp_path, receiver, broker, "--name", "three@test")
    try:
        _send(broker, 41, dispatch.token)
        wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(),
                 what=f"the step's pid; log:\n{_log(tmp_path)}")  # fmt: skip
        step = psutil.Process(int(pid_file.read_text()))
        worker.kill()
        worker.wait()
        assert step.is_running()  # in a session of its own, it outlived the worker
        receiver.queues = []
        successor = _start(tmp_path, receiver, broker, "--name", "three@test")
        try:
            wait_for(lambda: not step.is_running() or step.status() == psutil.STATUS_ZOMBIE,
                     what="the leftover step's end")  # fmt: skip
        finally:
            _stop(successor)
    finally:
        _stop(worker)
