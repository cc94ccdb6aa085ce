"""The deploy proxy: owns the user's ``bind`` address and moves traffic between app servers.

Why a proxy and not a socket handed over: a zero-downtime deploy needs the old and the
new release's gunicorn running side by side, the new one health-checked on its own
port before it gets a request, then every *new* request sent to it while the old one
finishes what it holds, and a rollback that is the same move backwards. A small
reverse proxy in front (as kamal-proxy is for Kamal) does all of that with one
primitive, ``switch``; passing a listening socket between gunicorns (systemd socket
activation, ``SO_REUSEPORT``) would share ``bind`` between both releases during the
overlap and cannot send traffic back to a release that is already draining.

Why asyncio and the stdlib: one process multiplexing a few hundred connections, an
in-flight counter per upstream that is exact because nothing runs between reading the
current upstream and counting the request, and no dependency to install on a deploy
target. The HTTP/1.1 handling is in ``proxy_http``; the daemon in ``proxy_daemon``.

The daemon is detached from whoever starts it (``ensure_proxy`` may run inside a
``conveyor run`` job): a new session, its stdio on ``proxy.log`` rather than the job's
pipes, forked away from its starter, and ``RUNNER_TRACKING_ID`` removed from its
environment. Those are the three ways ``executors/local.py`` finds a job's leftover
processes to kill them, so the proxy outlives the job and the run, as production must.

Not done: the proxy cannot restart without a gap on ``bind`` (no listening socket is
handed to a successor); a restart resumes the persisted upstream within about 0.1 s,
refusing connections meanwhile. No TLS, no WebSockets (``Upgrade`` is dropped), no
HTTP/2, one upstream connection per request (what gunicorn's sync workers do anyway).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time

from conveyor.deploy.proxy_daemon import (
    PID_NAME,
    SOCKET_NAME,
    STOP_GRACE,
    main,
    parse_address,
    reachable_socket_path,
)

START_TIMEOUT = 15.0
TRACKING_VARIABLE = "RUNNER_TRACKING_ID"


class ProxyError(Exception):
    """The proxy could not be started or reached, or refused a request; the message says why."""


class ProxyClient:
    """Talks to the proxy daemon of one state directory over its control socket."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = os.path.abspath(state_dir)
        self.socket_path = os.path.join(self.state_dir, SOCKET_NAME)

    def status(self) -> dict:
        """pid, bind, current upstream and in-flight requests per upstream."""
        return self._call({"op": "status"}, timeout=10.0)

    def upstream(self) -> str | None:
        return self.status()["upstream"]

    def switch(self, upstream: str, drain_seconds: float = 30.0) -> None:
        try:
            parse_address(upstream)
        except ValueError as error:
            raise ProxyError(str(error)) from error
        self._call(
            {"op": "switch", "upstream": upstream, "drain_seconds": drain_seconds},
            timeout=drain_seconds + 10.0,
        )

    def stop(self) -> None:
        """Stop the daemon (in-flight requests finish first); nothing to do if none runs."""
        try:
            pid = self.status()["pid"]
        except ProxyError:
            if running_pid(self.state_dir) is None:
                return  # already stopped
            raise
        self._call({"op": "stop"}, timeout=STOP_GRACE + 10.0)
        deadline = time.monotonic() + 10.0
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.01)

    def _call(self, request: dict, timeout: float) -> dict:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(timeout)
                with reachable_socket_path(self.socket_path) as address:
                    connection.connect(address)
                connection.sendall(json.dumps(request).encode() + b"\n")
                answer = b""
                while not answer.endswith(b"\n"):
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
        except (FileNotFoundError, ConnectionRefusedError) as error:
            raise ProxyError(f"no proxy is running for {self.state_dir}") from error
        except OSError as error:
            raise ProxyError(f"proxy control socket {self.socket_path}: {error}") from error
        if not answer:
            raise ProxyError(f"the proxy for {self.state_dir} closed the control connection")
        reply = json.loads(answer)
        if not reply.get("ok"):
            raise ProxyError(f"proxy for {self.state_dir}: {reply.get('error')}")
        return reply


def ensure_proxy(state_dir: str, bind: str) -> ProxyClient:
    """Start the proxy daemon for ``bind`` unless one already runs for ``state_dir``.

    Returns once the proxy listens. Raises ``ProxyError`` when ``bind`` is malformed or
    taken, or when the running proxy of ``state_dir`` serves another address.
    """
    try:
        parse_address(bind)
    except ValueError as error:
        raise ProxyError(f"bind: {error}") from error
    state_dir = os.path.abspath(state_dir)
    _private_directory(state_dir)
    client = ProxyClient(state_dir)
    # One starter at a time per state directory: two deploys racing must share one proxy.
    with open(os.path.join(state_dir, "proxy.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            running = client.status()
        except ProxyError:
            running = None
        if running is not None:
            if running["bind"] != bind:
                raise ProxyError(
                    f"the proxy of {state_dir} listens on {running['bind']}, not {bind}; "
                    "stop it first"
                )
            return client
        _start_daemon(state_dir, bind)
    return client


def _private_directory(path: str) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.stat(path)
    if info.st_uid != os.getuid():
        raise ProxyError(f"{path} belongs to another user")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)


def _start_daemon(state_dir: str, bind: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != TRACKING_VARIABLE}
    # The daemon must import conveyor wherever the caller did (a source checkout too).
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    try:
        starter = subprocess.run(
            [
                sys.executable,
                "-m",
                "conveyor.deploy.proxy",
                "--state-dir",
                state_dir,
                "--bind",
                bind,
            ],
            env=env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            timeout=START_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise ProxyError(f"the proxy for {bind} did not start in {START_TIMEOUT:.0f}s") from error
    if starter.returncode != 0:
        reason = starter.stderr.decode(errors="replace").strip().splitlines()
        raise ProxyError(reason[-1] if reason else f"the proxy exited with {starter.returncode}")
    # Both sockets listen before the starter exits; wait for the event loop to answer.
    client = ProxyClient(state_dir)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            client.status()
            return
        except ProxyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def running_pid(state_dir: str) -> int | None:
    """The pid recorded in ``state_dir`` if that process still lives (cleanup, tests)."""
    with contextlib.suppress(FileNotFoundError, ValueError):
        with open(os.path.join(state_dir, PID_NAME)) as file:
            pid = int(file.read())
        if _alive(pid):
            return pid
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (a daemon run in the foreground by a test) counts as gone
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return True


if __name__ == "__main__":
    sys.exit(main())
