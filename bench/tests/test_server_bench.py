"""The server benchmark's harness (bench/server) on real processes: git, sh, HTTP, servers."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml

SERVER_BENCH = Path(__file__).resolve().parents[1] / "server"
if str(SERVER_BENCH) not in sys.path:
    # Appended: bench/run.py keeps the name `run` for the other harness's tests.
    sys.path.append(str(SERVER_BENCH))

import buildbot_peer  # noqa: E402
from scenarios import LatencyTarget, push_and_wait  # noqa: E402
from server_workloads import (  # noqa: E402
    StampCollector,
    big_output_command,
    conveyor_workflow,
    network_stamp_command,
    stamp_command,
)
from services import Project, git  # noqa: E402


def test_the_stamp_step_writes_its_start_time_under_the_commit_it_runs_on(tmp_path: Path):
    project = Project.create(tmp_path / "projects", "p", {"README": "x\n"})
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    before = time.time()
    subprocess.run(["sh", "-c", stamp_command(stamps)], cwd=project.work, check=True, timeout=30)
    after = time.time()
    written = (stamps / project.head()).read_text()
    assert before <= float(written) <= after


def test_the_conveyor_workflow_runs_the_command_verbatim(tmp_path: Path):
    command = stamp_command(tmp_path / "it's here")
    document = yaml.safe_load(conveyor_workflow("latency", command))
    assert document["steps"] == [{"name": "step", "run": command}]
    (tmp_path / ".conveyor.yml").write_text(conveyor_workflow("latency", command))
    checked = subprocess.run(
        [sys.executable, "-m", "conveyor", "validate", ".conveyor.yml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_big_step_prints_exactly_the_bytes_it_promises(tmp_path: Path):
    command, size, lines = big_output_command(1)
    printed = subprocess.run(["sh", "-c", command], capture_output=True, check=True, timeout=30)
    assert len(printed.stdout) == size >= 1_000_000
    assert printed.stdout.count(b"\n") == lines


class _ChangeHookStandIn(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, list[str]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).received.append(urllib.parse.parse_qs(self.rfile.read(length).decode()))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def test_the_buildbot_hook_posts_each_pushed_branch_as_a_change(tmp_path: Path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ChangeHookStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        project = Project.create(tmp_path / "projects", "latency", {"README": "x\n"})
        hook = project.bare / "hooks" / "post-receive"
        url = f"http://127.0.0.1:{server.server_address[1]}/change_hook/base"
        hook.write_text(buildbot_peer._hook_text(sys.executable, url, "latency"))
        hook.chmod(0o755)
        sha = project.commit({"README": "y\n"}, "second")
        git("push", "--quiet", "origin", "HEAD:refs/heads/main", "HEAD:refs/heads/feature",
            cwd=project.work)
    finally:
        server.shutdown()
        server.server_close()
    changes = {(change["branch"][0], change["revision"][0], change["project"][0],
                change["repository"][0]) for change in _ChangeHookStandIn.received}
    assert changes == {("main", sha, "latency", str(project.bare)),
                       ("feature", sha, "latency", str(project.bare))}


def test_the_buildbot_master_config_is_python_naming_every_project(tmp_path: Path):
    text = buildbot_peer._master_config(8010, 9989, ["worker1", "worker2"], {
        "latency": (tmp_path / "latency.git", "echo 'quoted' \"twice\""),
        "burst": (tmp_path / "burst.git", "true")})
    compile(text, "master.cfg", "exec")
    assert "'latency': (" in text and "echo \\'quoted\\'" in text
    assert 'c["collapseRequests"] = False' in text


@pytest.mark.slow
def test_a_push_to_conveyor_server_starts_its_step_and_the_time_is_measured(tmp_path: Path):
    from conveyor_peer import ConveyorServer

    stamps = tmp_path / "stamps"
    stamps.mkdir()
    collector = StampCollector(stamps)  # the job is sandboxed: stamps come over the network
    project = Project.create(tmp_path / "projects", "latency", {
        ".conveyor.yml": conveyor_workflow("latency", network_stamp_command(collector.port))})
    # Not under pytest's tmp_path: a root server's sandbox user must pass through to the
    # workspaces, and pytest's own directory is closed to others.
    place = Path(tempfile.mkdtemp(prefix="conveyor-bench-test-"))
    place.chmod(0o711)
    server = ConveyorServer.start(place, workers=1)
    try:
        server.add_repository(project)
        target = LatencyTarget(server, project, stamps)
        timings = [push_and_wait(target, index) for index in range(2)]
        assert server.finished_runs("latency") == (2, 2)
    finally:
        server.stop()
        shutil.rmtree(place, ignore_errors=True)
    for timing in timings:
        assert (stamps / timing.sha).exists()
        assert timing.push_started < timing.step_started < timing.push_started + 30


@pytest.mark.slow
def test_one_command_runs_everything_and_writes_the_table(tmp_path: Path):
    output = tmp_path / "server.md"
    arguments = ["--pushes", "2", "--burst", "4", "--rounds", "1", "--big-mb", "2",
                 "--no-setup", "--output", str(output)]
    if not buildbot_peer.is_installed():
        arguments.append("--no-buildbot")
    completed = subprocess.run([sys.executable, str(SERVER_BENCH / "run.py"), *arguments],
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = output.read_text()
    assert report in completed.stdout
    assert "### Failures" not in report
    assert "| conveyor | 2 |" in report  # two pushes measured
    assert "4/4" in report  # every run of the burst succeeded
    _, size, lines = big_output_command(2)
    assert f"printing {size:,} bytes" in report
    assert "all of it" in report and "NOT all of it" not in report
    # The browser watching the second big run was sent every line, then the end event.
    assert f"up to line {lines:,} of {lines:,} |" in report
    if buildbot_peer.is_installed():
        assert "| Buildbot | 2 |" in report and "runs/s" in report
