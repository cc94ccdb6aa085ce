"""Fixtures for the server's tests: Django on a real SQLite file, real git repositories.

Django is configured here, when tests/server is collected, so the other suites run
without it. The session's data directory is a fresh temporary one; each test that
uses ``data_dir`` gets its own mirrors and workspaces under ``tmp_path``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def reachable_directory(prefix: str) -> str:
    """A temporary directory the sandbox user (nobody, when the tests run as root) can pass
    through: pytest's own tmp_path lies under a directory closed to other users."""
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o711)
    atexit.register(shutil.rmtree, path, True)
    return path


_SESSION_DATA = reachable_directory("conveyor-test-data-")
os.environ["CONVEYOR_DATA"] = _SESSION_DATA
os.environ["DJANGO_SETTINGS_MODULE"] = "conveyor.server.settings"
os.environ.setdefault("CONVEYOR_WORKERS", "2")

# CONVEYOR_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test runs these tests on
# PostgreSQL (scripts/test does, for the modules marked ``postgres``). The URL names the
# database to connect to; the tests' own database is made beside it (see postgres_support).
TEST_DATABASE_URL = os.environ.get("CONVEYOR_TEST_DATABASE_URL", "").strip()
# Only the test database's URL reaches the settings: a DATABASE_URL of the developer's
# own server must never be the one the tests migrate and flush.
os.environ.pop("DATABASE_URL", None)
if TEST_DATABASE_URL:
    os.environ["DATABASE_URL"] = TEST_DATABASE_URL

import django  # noqa: E402

django.setup()
# Read once by the settings; server subprocesses get their database from the test.
os.environ.pop("DATABASE_URL", None)

from tests.server import postgres_support  # noqa: E402

if TEST_DATABASE_URL:
    postgres_support.use_a_test_database_of_this_session()

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = str(Path(sys.executable).parent)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@dataclass
class GitProject:
    """A bare repository (what the server builds) and a clone that commits and pushes to it."""

    bare: Path
    work: Path

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        return self.head()

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.work).strip()

    def push(self, branch: str = "main") -> tuple[str, str]:
        """``git push`` the current HEAD to ``branch``; returns (before, after) shas."""
        before = (
            subprocess.run(
                [
                    "git",
                    "--git-dir",
                    str(self.bare),
                    "rev-parse",
                    "--verify",
                    "-q",
                    f"refs/heads/{branch}",
                ],
                capture_output=True,
                text=True,
            ).stdout.strip()
            or "0" * 40
        )
        git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)
        return before, self.head()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's, and on PostgreSQL the sessions that threads of the tests left
    open (workers, the live server) are ended first: a database with anyone connected
    cannot be dropped."""
    yield
    if TEST_DATABASE_URL:
        with django_db_blocker.unblock():
            postgres_support.end_other_sessions()


@pytest.fixture
def git_project(tmp_path: Path) -> GitProject:
    return new_git_project(tmp_path)


def new_git_project(tmp_path: Path) -> GitProject:
    """A bare repository and its clone in ``tmp_path`` (also for module-scoped fixtures)."""
    bare = tmp_path / "shop.git"
    work = tmp_path / "shop"
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    git("init", "-q", "-b", "main", str(work), cwd=tmp_path)
    git("remote", "add", "origin", str(bare), cwd=work)
    return GitProject(bare=bare, work=work)


@pytest.fixture
def data_dir(tmp_path: Path, settings: Any) -> Path:
    """A data directory of the test's own (mirrors, workspaces)."""
    path = tmp_path / "data"
    path.mkdir()
    settings.DATA_DIR = path
    settings.WORKSPACES_DIR = Path(reachable_directory("conveyor-test-workspaces-"))
    return path


def processes_of_run(data: Path, run_id: int) -> list[Any]:
    """The processes a server on ``data`` started for run ``run_id``, found by the mark
    every step carries (host pids, sandboxed or not)."""
    from conveyor.executors import process_tree
    from conveyor.server.runs.execute import RUN_MARK_VARIABLE, run_mark

    mark = run_mark(run_id, data.resolve())
    return process_tree.processes_with_env(RUN_MARK_VARIABLE, {mark})


def end_processes_of_run(data: Path, run_id: int) -> None:
    for process in processes_of_run(data, run_id):
        try:
            process.kill()
        except Exception:
            pass  # gone already


def workspace_of(run: Any) -> Path:
    """Where ``run``'s steps run: a file a test puts there is seen by a sandboxed step."""
    from django.conf import settings

    return Path(settings.WORKSPACES_DIR) / str(run.pk) / run.repository.name


@pytest.fixture
def repository(git_project: GitProject, data_dir: Path) -> Any:
    from conveyor.server.repos.models import Repository

    return Repository.objects.create(name="shop", url=str(git_project.bare))


@pytest.fixture
def workers(transactional_db: None) -> Iterator[Any]:
    """The embedded worker pool, running for the test."""
    from conveyor.server.dispatch.embedded import EmbeddedWorkerPool

    pool = EmbeddedWorkerPool(2)
    pool.start()
    yield pool
    pool.stop(timeout=15)


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "it") -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def wait_for_run_end(run: Any, timeout: float = 20.0) -> Any:
    from conveyor.server.runs.models import FINISHED_STATUSES, Run

    def finished() -> Any:
        fresh = Run.objects.get(pk=run.pk)
        return fresh if fresh.status in FINISHED_STATUSES else None

    return wait_for(finished, timeout, f"run #{run.number} to finish")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environment(data: Path, **extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("CONVEYOR_") and name != "DJANGO_SETTINGS_MODULE"
    }
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env["CONVEYOR_DATA"] = str(data)
    env["CONVEYOR_ADMIN_PASSWORD"] = "test-password-123"
    env["CONVEYOR_WORKSPACES"] = reachable_directory("conveyor-test-workspaces-")
    env.update(extra)
    return env


@dataclass
class ServerProcess:
    process: subprocess.Popen
    url: str
    data: Path
    log: Path
    # Where its runs' checkouts are: <workspaces>/<run id>/<repository>.
    workspaces: Path | None = None

    def output(self) -> str:
        return self.log.read_text()


def start_server(
    data: Path,
    workers: int = 2,
    timeout: float = 15.0,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> ServerProcess:
    """``conveyor server`` as a real subprocess on a free port (or ``port``: a server
    started again where it was); returns when /healthz answers. ``env``: settings
    added to its environment."""
    import urllib.request

    port = port or free_port()
    log = data.parent / f"server-{port}.log"
    handle = log.open("a")
    environment = server_environment(data, **(env or {}))
    workspaces = Path(environment["CONVEYOR_WORKSPACES"])
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "conveyor",
            "server",
            "--port",
            str(port),
            "--data",
            str(data),
            "--workers",
            str(workers),
            *extra_args,
        ],
        env=environment,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    handle.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"conveyor server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return ServerProcess(process, url, data, log, workspaces)
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"conveyor server did not answer in {timeout} s:\n{log.read_text()}")
        time.sleep(0.05)


SEED_WORKFLOW = """\
name: Seed pipeline
on:
  push:
    branches: [main]
steps:
  - name: Build
    run: echo "Building..."
  - name: Test
    run: echo "Testing..."
  - name: Deploy
    run: echo "Deploying to server..."
"""
