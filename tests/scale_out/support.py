"""A scaled-out Conveyor made of real processes: Redis as the broker, ``conveyor server
--no-workers`` and ``conveyor worker`` processes that know only the broker, the
server's URL and the workers' token."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import (
    ROOT,
    VENV_BIN,
    ServerProcess,
    reachable_directory,
    start_server,
    wait_for,
)
from tests.server.test_api_http import call

REDIS_DB = 13  # the tests' own database of the local Redis (bench/scale.py uses 11), emptied first
WORKER_TOKEN = "test-worker-token-0123456789"
LOST_SECONDS = 4


# The scaled-out server's database: PostgreSQL, as docs/scale-out.md says (scripts/services
# starts it when it is down); each cluster gets a new database of its own.
POSTGRES_SERVER = os.environ.get("CONVEYOR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
_databases = itertools.count(1)


def new_postgres_database() -> tuple[str, str]:
    """``(name, URL)`` of a new, empty PostgreSQL database."""
    import psycopg

    name = f"conveyor_scale_{os.getpid()}_{next(_databases)}"
    try:
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            server.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL at {POSTGRES_SERVER} cannot be used (scripts/services): {error}")
    return name, f"{POSTGRES_SERVER}/{name}"


def drop_postgres_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ensure_redis() -> str:
    """The local Redis's URL, started if it is down (CI starts from a clean machine)."""
    import redis

    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError:
        server = shutil.which("redis-server")
        if server is None:
            pytest.fail("Redis is down and redis-server is not installed (apt-get install redis)")
        subprocess.run(
            [
                server,
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "-::1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
        )
        wait_for(lambda: _pings(client), 10, "Redis to start")
    client.flushdb()
    return url


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def short_name(worker: str) -> str:
    """``w1`` of ``w1@host``: a worker's --name, as its Celery node name starts."""
    return worker.split("@", 1)[0]


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Cluster:
    tmp: Path
    broker: str
    database_url: str
    server: ServerProcess | None = None
    workers: list[WorkerProcess] = field(default_factory=list)
    api: str = ""
    auth: dict[str, str] = field(default_factory=dict)

    def start_server(self, port: int | None = None, sandbox: bool = False) -> ServerProcess:
        data = self.tmp / "server-data"
        data.mkdir(exist_ok=True)
        self.server = start_server(
            data,
            workers=4,  # runs coordinated at once; their jobs run on the workers
            extra_args=["--no-workers", *([] if sandbox else ["--no-sandbox"])],
            timeout=90.0,  # the first start migrates a new database
            env={
                "DATABASE_URL": self.database_url,
                "CONVEYOR_BROKER_URL": self.broker,
                "CONVEYOR_WORKER_TOKEN": WORKER_TOKEN,
                "CONVEYOR_WORKER_LOST_SECONDS": str(LOST_SECONDS),
            },
            port=port,
        )
        self.api = f"{self.server.url}/api"
        return self.server

    def start_worker(self, name: str, labels: str = "", sandbox: bool = False) -> WorkerProcess:
        assert self.server is not None
        log = self.tmp / f"worker-{name}.log"
        # Only what a worker on another machine has: no database, no data directory.
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("CONVEYOR_")
            and key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
        }
        environment.update(
            PATH=VENV_BIN + os.pathsep + environment.get("PATH", ""),
            CONVEYOR_BROKER_URL=self.broker,
            CONVEYOR_SERVER_URL=self.server.url,
            CONVEYOR_WORKER_TOKEN=WORKER_TOKEN,
        )
        command = [
            sys.executable,
            "-m",
            "conveyor",
            "worker",
            "--concurrency",
            "1",
            "--name",
            name,
            "--dir",
            # The sandbox's user must reach it: pytest's temporary tree is closed to others.
            reachable_directory(f"conveyor-test-worker-{name}-")
            if sandbox
            else str(self.tmp / f"worker-{name}"),
        ]
        if labels:
            command += ["--labels", labels]
        if not sandbox:
            command.append("--no-sandbox")
        with log.open("w") as handle:
            process = subprocess.Popen(
                command,
                env=environment,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
                start_new_session=True,
            )
        seen = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
        names = {entry.split(b"=", 1)[0].decode() for entry in seen if entry}
        assert not names & {"DATABASE_URL", "CONVEYOR_DATA", "CONVEYOR_SECRET_KEY"}, names
        worker = WorkerProcess(name, process, log)
        self.workers.append(worker)

        def online() -> bool:
            if process.poll() is not None:
                pytest.fail(f"conveyor worker {name} exited: {worker.output()}")
            return self.worker_online(name)

        wait_for(online, 30, f"worker {name} to say hello")
        return worker

    def worker_online(self, name: str) -> bool:
        status, workers = call(f"{self.api}/workers", **self.auth)
        if status != 200:
            return False
        rows = workers if isinstance(workers, list) else workers.get("items", [])
        return any(
            short_name(row.get("name", "")) == name and row.get("state") == "online" for row in rows
        )

    def kill_worker(self, worker: WorkerProcess) -> None:
        os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=10)

    def run_jobs(self, run_number: int) -> list[dict[str, Any]]:
        status, jobs = call(f"{self.api}/repositories/shop/runs/{run_number}/jobs", **self.auth)
        assert status == 200, jobs
        return jobs if isinstance(jobs, list) else jobs.get("items", [])

    def run(self, run_number: int) -> dict[str, Any]:
        status, run = call(f"{self.api}/repositories/shop/runs/{run_number}", **self.auth)
        assert status == 200, run
        return run

    def wait_for_run_end(self, run_number: int, timeout: float = 60) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            run = self.run(run_number)
            return run if run["status"] not in ("queued", "running", "waiting") else None

        return wait_for(ended, timeout, f"run #{run_number} to end")

    def stop(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.terminate()
        for worker in self.workers:
            try:
                worker.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.process.pid, signal.SIGKILL)
        if self.server is not None and self.server.process.poll() is None:
            self.server.process.terminate()
            self.server.process.wait(timeout=20)
