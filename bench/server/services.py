"""Long-running processes the server benchmark starts, and small waiting/HTTP helpers.

Every service runs in its own session so that stopping it kills its whole process
tree with one killpg, and nothing it started is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# 127.0.0.1 only: a proxy from the environment must never stand in between.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BenchError(Exception):
    """A service did not come up or did not finish in time: says which and why."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], T | None], timeout_seconds: float, what: str,
               interval_seconds: float = 0.01) -> T:
    """Poll `condition` until it returns something other than None or False."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = condition()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout_seconds:.0f} s waiting for {what}")
        time.sleep(interval_seconds)


@dataclass
class Service:
    """One started process (and its children), its output in `log`."""

    name: str
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")

    def tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout_seconds: float = 20.0) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=timeout_seconds)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout_seconds)
            except ProcessLookupError:
                pass


def start_service(name: str, command: list[str], cwd: Path, env: dict[str, str],
                  log: Path) -> Service:
    with log.open("wb") as handle:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=handle,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    return Service(name, process, log)


def http(method: str, url: str, body: bytes | None = None,
         headers: dict[str, str] | None = None, timeout_seconds: float = 60.0) -> tuple[int, bytes]:
    """One request; answers (status, body) for HTTP errors too, raises only for no answer."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=timeout_seconds) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def http_json(method: str, url: str, payload: Any = None,
              headers: dict[str, str] | None = None) -> Any:
    body = None if payload is None else json.dumps(payload).encode()
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    status, answer = http(method, url, body, all_headers)
    if status >= 300:
        raise BenchError(f"{method} {url}: HTTP {status}: {answer[:500]!r}")
    return json.loads(answer)


def answers(url: str) -> bool:
    try:
        status, _ = http("GET", url, timeout_seconds=2)
    except OSError:
        return False
    return status < 500


def git(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(
        ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    if completed.returncode != 0:
        raise BenchError(f"git {' '.join(args)} in {cwd}: {completed.stderr.strip()}")
    return completed.stdout.strip()


@dataclass
class Project:
    """A bare repository (what is pushed to) and a working clone (where commits are made)."""

    name: str
    bare: Path
    work: Path

    @classmethod
    def create(cls, root: Path, name: str, files: dict[str, str]) -> Project:
        root.mkdir(parents=True, exist_ok=True)
        bare = root / f"{name}.git"
        work = root / f"{name}-work"
        git("init", "--quiet", "--bare", "--initial-branch=main", str(bare), cwd=root)
        git("init", "--quiet", "--initial-branch=main", str(work), cwd=root)
        git("remote", "add", "origin", str(bare), cwd=work)
        project = cls(name, bare, work)
        project.commit(files, "initial")
        git("push", "--quiet", "origin", "HEAD:refs/heads/main", cwd=work)
        return project

    def commit(self, files: dict[str, str], message: str) -> str:
        for relative, text in files.items():
            path = self.work / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", "--all", cwd=self.work)
        git("commit", "--quiet", "-m", message, cwd=self.work)
        return self.head()

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.work)

    def push(self, branch: str = "main") -> tuple[float, float]:
        """`git push` the working clone's HEAD; the wall-clock times it started and returned."""
        started = time.time()
        git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)
        return started, time.time()
