"""Processes a step leaves running: alive for the job's later steps, ended with the job,
as on GitHub's runner (and kept only when the step opts out with RUNNER_TRACKING_ID="")."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil

from tests.helpers import run_conveyor


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not alive(pid)


def test_a_background_server_serves_later_steps_and_ends_with_the_job(repo: Path) -> None:
    (repo / ".conveyor.yml").write_text(
        "steps:\n"
        "  - name: Start\n"
        "    run: |\n"
        "      setsid sleep 300 </dev/null >/dev/null 2>&1 &\n"
        "      echo $! > escaped.pid\n"
        "      sleep 300 >/dev/null 2>&1 &\n"
        "      echo $! > grouped.pid\n"
        "      RUNNER_TRACKING_ID= setsid sleep 300 </dev/null >/dev/null 2>&1 &\n"
        "      echo $! > kept.pid\n"
        "  - name: Use\n"
        "    run: kill -0 $(cat grouped.pid) && kill -0 $(cat escaped.pid) && echo both-alive\n"
    )
    result = run_conveyor("run", cwd=repo, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[pipeline] | both-alive" in result.stdout

    grouped, escaped, kept = (
        int((repo / f"{n}.pid").read_text()) for n in ("grouped", "escaped", "kept")
    )
    try:
        assert wait_gone(grouped), "a process left in the step's group outlived the job"
        assert wait_gone(escaped), "a setsid process carrying the job's tracking id outlived it"
        assert alive(kept), "RUNNER_TRACKING_ID='' is GitHub's way to keep a process"
    finally:
        if alive(kept):
            os.kill(kept, 9)
