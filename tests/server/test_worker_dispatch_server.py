"""A scaled-out ``conveyor server --no-workers`` as a real process (uvicorn, ASGI): the
job message on Redis, a test acting as the worker over HTTP, git fetch of the job's
commit streamed by the server, and a worker that stops answering found lost within
the bound by the server's own watch."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from conveyor.server.dispatch import protocol
from tests.server.conftest import GitProject, git, start_server, wait_for
from tests.server.test_api_http import admin_with_repository, call
from tests.server.worker_support import (
    BROKER_URL,
    WORKER_TOKEN,
    FakeWorker,
    Message,
    job_events,
    next_message,
    redis_client,
    unique_label,
)

pytestmark = pytest.mark.slow


def test_a_server_without_job_threads_sends_jobs_and_finds_lost_workers(
    tmp_path: Path, git_project: GitProject
) -> None:
    broker = redis_client()
    label = unique_label()
    git_project.commit(
        {
            ".conveyor.yml": "on: workflow_dispatch\njobs:\n  build:\n"
            f"    runs-on: [self-hosted, {label}]\n"
            "    steps:\n      - name: Build\n        run: echo built\n"
        }
    )
    git_project.push()
    data = tmp_path / "server-data"
    data.mkdir()
    server = start_server(
        data,
        extra_args=["--no-workers"],
        env={
            "CONVEYOR_BROKER_URL": BROKER_URL,
            "CONVEYOR_WORKER_TOKEN": WORKER_TOKEN,
            "CONVEYOR_WORKER_LOST_SECONDS": "2",
        },
    )
    try:
        api, auth = admin_with_repository(server.url, git_project.bare)
        worker = FakeWorker(server.url, labels=[label])
        worker.heartbeat()
        queue = protocol.queue_for(["self-hosted", label])

        def trigger() -> tuple[str, Message]:
            status, triggered = call(
                f"{api}/repositories/shop/runs", "POST", {"workflow": ".conveyor.yml"}, **auth
            )
            assert status == 201, triggered
            number = triggered["runs"][0]["number"]
            return f"{api}/repositories/shop/runs/{number}", next_message(broker, queue)

        def ended(run_url: str) -> Any:
            _, run = call(run_url, **auth)
            return run if run["status"] not in ("queued", "running") else None

        # A job that runs to its end on the worker.
        run_url, message = trigger()
        status, claimed = worker.claim(message)
        assert status == 200, claimed
        fetched = tmp_path / "fetched"
        git("init", "-q", str(fetched), cwd=tmp_path)
        sha = git("rev-parse", "HEAD", cwd=git_project.work).strip()
        headers = [
            "-c", f"http.extraHeader=Authorization: Bearer {WORKER_TOKEN}",
            "-c", f"http.extraHeader={protocol.JOB_TOKEN_HEADER}: {message.token}",
        ]  # fmt: skip
        for version in ("0", "2"):
            subprocess.run(
                ["git", "-c", f"protocol.version={version}", *headers, "fetch", "-q",
                 claimed["git_url"], sha],
                cwd=fetched, check=True, capture_output=True,
            )  # fmt: skip
            assert git("rev-parse", "FETCH_HEAD", cwd=fetched).strip() == sha
        first, last, outcome = job_events(claimed["plan"], "built on a worker")
        assert worker.events(message, 1, first)[0] == 200
        assert worker.finish(message, 2, last, outcome)[0] == 200
        run = wait_for(lambda: ended(run_url), what="the run to end")
        assert run["status"] == "success", run
        _, jobs = call(f"{run_url}/jobs", **auth)
        assert [(job["job_key"], job["worker"]) for job in jobs] == [("build", worker.name)]

        # A worker that claims the job, says a line, and is heard from no more.
        run_url, message = trigger()
        status, claimed = worker.claim(message)
        assert status == 200
        first, _, _ = job_events(claimed["plan"], "the last line")
        assert worker.events(message, 1, first)[0] == 200
        run = wait_for(lambda: ended(run_url), timeout=30, what="the lost worker's run to end")
        assert run["status"] == "failure"
        _, [job] = call(f"{run_url}/jobs", **auth)
        assert job["status"] == "failure"
        assert job["reason"].startswith(f"worker lost: {worker.name} last heard from"), job
        assert worker.events(message, 2, [])[0] == 409
    finally:
        server.process.terminate()
        server.process.wait(timeout=60)
    assert "Traceback" not in server.output(), server.output()
