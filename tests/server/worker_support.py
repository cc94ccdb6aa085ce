"""A test acting as a ``conveyor worker``: it reads the job messages the server sent
to the real Redis broker and speaks the worker protocol over real HTTP."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from conveyor.engine import events as ev
from conveyor.engine.plan import JobOutcome
from conveyor.engine.results import JobResult, StepResult
from conveyor.server.dispatch import protocol
from tests.server.conftest import wait_for

BROKER_URL = "redis://127.0.0.1:6379/12"  # scale_out empties 11 before each test
WORKER_TOKEN = "the-workers-shared-token"


def redis_client() -> Any:
    import redis

    client = redis.Redis.from_url(BROKER_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.fail("Redis is not running on 127.0.0.1:6379 (see the developers' guide)")
    return client


def unique_label() -> str:
    """A label of this test's own, so its queue is its own on the shared Redis."""
    return f"test-{uuid.uuid4().hex[:12]}"


@dataclass
class Message:
    task: str
    dispatch_id: int
    token: str
    queue: str


def next_message(client: Any, queue: str, timeout: float = 30.0) -> Message:
    """The next job message on ``queue`` as Celery put it there (kombu's Redis list)."""
    raw = wait_for(lambda: client.rpop(queue), timeout, f"a message on {queue}")
    envelope = json.loads(raw)
    body = json.loads(base64.b64decode(envelope["body"]))
    args = body[0]
    return Message(envelope["headers"]["task"], args[0], args[1], queue)


@dataclass
class FakeWorker:
    url: str
    name: str = field(default_factory=lambda: f"worker-{uuid.uuid4().hex[:6]}@test")
    token: str = WORKER_TOKEN
    labels: list[str] = field(default_factory=list)

    def call(
        self,
        path: str,
        body: Any = None,
        job_token: str | None = None,
        method: str = "POST",
        token: str | None = None,
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token if token is None else token}"}
        if job_token is not None:
            headers[protocol.JOB_TOKEN_HEADER] = job_token
        response = requests.request(method, self.url + path, json=body, headers=headers, timeout=30)
        try:
            answer = response.json()
        except ValueError:
            answer = response.text
        return response.status_code, answer

    def heartbeat(self, running: list[int] | None = None, stopping: bool = False) -> Any:
        status, answer = self.call(
            protocol.HEARTBEAT_PATH,
            {
                "name": self.name,
                "labels": [*self.labels, "linux", "x64", "self-hosted"],
                "system": "Linux",
                "machine": "x86_64",
                "concurrency": 1,
                "version": "test",
                "started_at": "2026-01-01T00:00:00Z",
                "running": running or [],
                "stopping": stopping,
            },
        )
        assert status == 200, answer
        return answer

    def claim(self, message: Message) -> tuple[int, Any]:
        return self.call(
            protocol.job_path(message.dispatch_id, "claim"),
            {"worker": self.name},
            job_token=message.token,
        )

    def events(self, message: Message, seq: int, events: list[ev.Event]) -> tuple[int, Any]:
        return self.call(
            protocol.job_path(message.dispatch_id, "events"),
            {"seq": seq, "events": [event.to_json() for event in events]},
            job_token=message.token,
        )

    def finish(
        self, message: Message, seq: int, events: list[ev.Event], outcome: JobOutcome
    ) -> tuple[int, Any]:
        return self.call(
            protocol.job_path(message.dispatch_id, "finish"),
            {
                "seq": seq,
                "events": [event.to_json() for event in events],
                "outcome": outcome.to_json(),
            },
            job_token=message.token,
        )


def job_events(plan: dict[str, Any], lines: str, status: ev.Status = ev.Status.SUCCESS) -> Any:
    """What a worker's engine would say running a one-step job: (first batch, last batch,
    outcome)."""
    key, job_id, name = plan["job_key"], plan["job_id"], plan["name"]
    first = [
        ev.JobStarted(job_key=key, job_id=job_id, name=name, matrix=plan["matrix"]),
        ev.StepStarted(job_key=key, step=0, name="Build", command="echo built"),
        ev.LogLines(job_key=key, step=0, text=lines),
    ]
    last = [
        ev.StepFinished(
            job_key=key, step=0, name="Build", status=status, outcome=status, duration=0.1
        ),
        ev.JobFinished(
            job_key=key,
            job_id=job_id,
            status=status,
            duration=0.2,
            name=name,
            matrix=plan["matrix"],
        ),
    ]
    outcome = JobOutcome(
        JobResult(
            job_key=key,
            job_id=job_id,
            name=name,
            status=status,
            matrix=plan["matrix"],
            steps=[StepResult(index=0, id=None, name="Build", status=status, outcome=status)],
        ),
        {"built": "yes"},
    )
    return first, last, outcome


class Coordinator:
    """``execute_run`` in a thread, as the server's embedded pool runs it."""

    started: list[Coordinator] = []

    @classmethod
    def join_all(cls) -> None:
        for coordinator in cls.started:
            coordinator.thread.join(60)
        cls.started.clear()

    def __init__(self, run_id: int) -> None:
        Coordinator.started.append(self)
        from conveyor.server.runs.execute import execute_run

        self.result: list[str] = []
        self.thread = threading.Thread(
            target=lambda: self.result.append(execute_run(run_id)), daemon=True
        )
        self.thread.start()

    def join(self, timeout: float = 60.0) -> str:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the run's coordinator did not end"
        return self.result[0]
