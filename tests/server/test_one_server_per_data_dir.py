"""A second `conveyor server` on a data directory in use refuses to start, naming the
process that holds it, and leaves the first one's running run alone."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.server.conftest import (
    ROOT,
    end_processes_of_run,
    free_port,
    server_environment,
    start_server,
    wait_for,
)
from tests.server.test_recovery import TICKING, _log, _run_row, _trigger

pytestmark = pytest.mark.slow  # real server processes


def test_it_refuses_a_second_server_on_the_same_data_directory(tmp_path, git_project) -> None:
    data = tmp_path / "server-data"
    git_project.commit({".conveyor.yml": TICKING})
    first = start_server(data)
    second = None
    run_id = 0
    try:
        run_id = _trigger(data, git_project)
        wait_for(lambda: "tick 3" in _log(data, run_id, 1), what="the deploy step's output")
        second = subprocess.Popen(
            [sys.executable, "-m", "conveyor", "server", "--port", str(free_port())],
            env=server_environment(data),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        out, err = second.communicate(timeout=60)
        assert second.returncode == 2, (out, err)
        assert (
            f"another conveyor server (pid {first.process.pid}) is using the data directory "
            f"{data}" in err
        )
        assert "Traceback" not in err
        # The first server's run was not touched: still running, still writing its log.
        assert _run_row(data, run_id) == ("running", "")
        seen = _log(data, run_id, 1).count("tick")
        wait_for(
            lambda: _log(data, run_id, 1).count("tick") > seen + 5,
            what="the run to go on after the second server gave up",
        )
        assert _run_row(data, run_id) == ("running", "")
    finally:
        if second is not None and second.poll() is None:
            second.kill()
            second.wait(10)
        first.process.send_signal(signal.SIGTERM)
        first.process.wait(20)
        end_processes_of_run(data, run_id)
