"""A release's gunicorn: started detached beside the running one, health-checked, stopped.

It must outlive the ``conveyor run`` that started it: it runs in a session of its own
(``--daemon``: the executor's end-of-job ``killpg`` cannot reach it) and without the
job's ``RUNNER_TRACKING_ID`` (by which the executor finds a job's orphans)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time

from conveyor.deploy.state import DeployError

TRACKING_VARIABLE = "RUNNER_TRACKING_ID"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(release_dir: str, wsgi: str, env: dict[str, str], log_file: str) -> tuple[int, int]:
    """gunicorn for the release on a free 127.0.0.1 port: (pid of its master, port)."""
    port = free_port()
    pid_file = os.path.join(release_dir, ".gunicorn.pid")
    try:
        os.unlink(pid_file)
    except FileNotFoundError:
        pass
    gunicorn = os.path.join(release_dir, ".venv", "bin", "gunicorn")
    argv = [
        gunicorn,
        "--daemon",
        "--bind",
        f"127.0.0.1:{port}",
        "--chdir",
        release_dir,
        "--pid",
        pid_file,
        "--error-logfile",
        log_file,
        "--graceful-timeout",
        "30",
        wsgi,
    ]
    clean_env = {key: value for key, value in env.items() if key != TRACKING_VARIABLE}
    done = subprocess.run(
        argv,
        cwd=release_dir,
        env=clean_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        start_new_session=True,
    )
    if done.returncode != 0:
        raise DeployError(f"gunicorn did not start: {(done.stderr or done.stdout).strip()[-500:]}")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with open(pid_file, encoding="ascii") as file:
                return int(file.read().strip()), port
        except (OSError, ValueError):
            time.sleep(0.05)
    raise DeployError(f"gunicorn wrote no pid file; its log: {tail(log_file)}")


def is_running(pid: int, release_dir: str) -> bool:
    """Whether ``pid`` is still the release's gunicorn (not a reused pid)."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            command = file.read().decode(errors="replace")
    except OSError:
        return False
    return "gunicorn" in command and release_dir in command


def stop(pid: int, release_dir: str, grace_seconds: float = 30.0) -> None:
    """SIGTERM (gunicorn finishes its requests), then SIGKILL after ``grace_seconds``."""
    if not is_running(pid, release_dir):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if not is_running(pid, release_dir):
            return
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def health(port: int, path: str, host: str, timeout: float = 5.0) -> str | None:
    """None when ``GET path`` answers 2xx or 3xx, else what was wrong."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as error:
        return f"GET {path}: {error}"
    finally:
        connection.close()
    if 200 <= response.status < 400:
        return None
    return f"GET {path} (Host: {host}) answered {response.status} {response.reason}"


def wait_healthy(
    port: int, path: str, host: str, timeout: float, pid: int, release_dir: str, log_file: str
) -> str | None:
    """None once healthy; else why not, when ``timeout`` passed or the server died."""
    deadline = time.monotonic() + timeout
    problem = "not checked"
    # A Django app answers a fraction of a second after gunicorn starts: asked often at
    # first, then every 0.25 s for one that takes longer.
    pause = 0.02
    while True:
        problem = health(port, path, host, timeout=max(1.0, min(5.0, timeout)))
        if problem is None:
            return None
        if not is_running(pid, release_dir):
            return f"gunicorn exited: {tail(log_file)}"
        if time.monotonic() >= deadline:
            return f"{problem} (still after {timeout:g}s)"
        time.sleep(pause)
        pause = min(0.25, pause * 1.5)


def tail(log_file: str, lines: int = 5) -> str:
    try:
        with open(log_file, encoding="utf-8", errors="replace") as file:
            return " | ".join(line.strip() for line in file.readlines()[-lines:])
    except OSError:
        return "(no log)"
