"""Fixtures for the deploy proxy: real app servers on 127.0.0.1 and a proxy cleaned up after."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conveyor.deploy.proxy import ProxyError, ensure_proxy, running_pid

UPSTREAM_APP = Path(__file__).with_name("upstream_app.py")


class Upstream:
    """One running ``upstream_app.py``: its name, its ``127.0.0.1:PORT`` and its process."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, str(UPSTREAM_APP), name], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.address = f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


@pytest.fixture
def start_upstream() -> Iterator[Callable[[str], Upstream]]:
    started: list[Upstream] = []

    def start(name: str) -> Upstream:
        upstream = Upstream(name)
        started.append(upstream)
        return upstream

    yield start
    for upstream in started:
        upstream.kill()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[str]:
    """A proxy state directory; whatever proxy was started for it is stopped afterwards."""
    directory = str(tmp_path / "proxy")
    yield directory
    pid = running_pid(directory)
    if pid is not None:
        try:
            ensure_stopped(directory)
        except ProxyError:
            os.kill(pid, signal.SIGKILL)


def ensure_stopped(directory: str) -> None:
    from conveyor.deploy.proxy import ProxyClient

    ProxyClient(directory).stop()


@pytest.fixture
def bind() -> str:
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def proxy(state_dir: str, bind: str):
    return ensure_proxy(state_dir, bind)
