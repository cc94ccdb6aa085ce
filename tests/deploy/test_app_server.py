"""Health checks against a real HTTP server; stopping never hits a process that is not
the release's gunicorn."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from conveyor.deploy import app_server


class _ShopHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.headers.get("Host") != "shop.example":
            status = 400
        else:
            status = 200 if self.path == "/healthz" else 500
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ShopHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_healthy_needs_a_good_answer_to_the_right_host(port: int) -> None:
    assert app_server.health(port, "/healthz", "shop.example") is None
    assert "answered 400" in str(app_server.health(port, "/healthz", "evil.example"))
    assert "answered 500" in str(app_server.health(port, "/broken", "shop.example"))


def test_nothing_listening_is_unhealthy() -> None:
    problem = app_server.health(app_server.free_port(), "/healthz", "shop.example")
    assert problem is not None and problem.startswith("GET /healthz:")


def test_waiting_ends_when_the_server_is_gone(port: int) -> None:
    started = time.monotonic()
    problem = app_server.wait_healthy(
        port, "/broken", "shop.example", 30, os.getpid(), "/srv/none", "/nonexistent.log"
    )
    # Our own process names no gunicorn: the wait ends at once, saying the server exited.
    assert problem is not None and problem.startswith("gunicorn exited")
    assert time.monotonic() - started < 5


def _pretend_gunicorn(release_dir: str) -> subprocess.Popen:
    """A process whose command line names gunicorn and the release, as its master's does."""
    script = "import time, sys; time.sleep(60)"
    process = subprocess.Popen([sys.executable, "-c", script, "gunicorn", "--chdir", release_dir])
    # Its command line is read from /proc; on a loaded machine it may take a moment to show.
    deadline = time.monotonic() + 10
    while not app_server.is_running(process.pid, release_dir) and time.monotonic() < deadline:
        time.sleep(0.01)
    return process


def test_waiting_gives_up_at_the_timeout_then_stop_ends_the_server(port: int, tmp_path) -> None:
    server = _pretend_gunicorn(str(tmp_path))
    try:
        assert app_server.is_running(server.pid, str(tmp_path))
        started = time.monotonic()
        problem = app_server.wait_healthy(
            port, "/broken", "shop.example", 0.5, server.pid, str(tmp_path), "/no.log"
        )
        assert problem is not None and "answered 500" in problem and "still after 0.5s" in problem
        assert 0.5 <= time.monotonic() - started < 10
        app_server.stop(server.pid, str(tmp_path), grace_seconds=5)
        assert server.wait(timeout=5) != 0  # SIGTERM ended it
    finally:
        server.kill()
        server.wait()


def test_stop_leaves_a_process_that_is_not_the_releases_gunicorn(tmp_path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not app_server.is_running(sleeper.pid, str(tmp_path))
        app_server.stop(sleeper.pid, str(tmp_path), grace_seconds=0.1)
        assert sleeper.poll() is None  # a reused pid is never signalled
    finally:
        sleeper.kill()
        sleeper.wait()
