"""LocalExecutor against real processes: streaming, exit codes, timeouts, cancellation, trees."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from conveyor.executors import local
from conveyor.executors.base import Cancellation, StepCommand, StepExit
from conveyor.executors.local import CHUNK_SIZE, LocalExecutor, LocalJobHost

STEP_ENV = {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C"}
GRACE = 0.5  # short kill grace, so the test of a SIGTERM-ignoring step stays fast


@pytest.fixture
def host(tmp_path: Path) -> Iterator[LocalJobHost]:
    # Step-scoped orphans, so that each test sees a step's leftovers end with it.
    job_host = LocalExecutor(kill_grace=GRACE, orphans="step").prepare_job(
        "test job", str(tmp_path)
    )
    yield job_host
    job_host.close()


@pytest.fixture(params=["pidfd", "polling"])
def any_host(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, host: LocalJobHost
) -> LocalJobHost:
    """The host, once noticing exits through a pidfd, once by polling the process's
    status as it does where pidfds are missing (macOS, Linux before 5.3)."""
    if request.param == "polling":
        monkeypatch.setattr(local, "_open_pidfd", lambda pid: None)
    return host


class Output:
    """Collects chunks; optionally reacts to the text seen so far."""

    def __init__(self, react: Callable[[bytes], None] | None = None) -> None:
        self.chunks: list[bytes] = []
        self._react = react

    def __call__(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        if self._react is not None:
            self._react(self.data)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)

    def pids(self) -> list[int]:
        return [int(pid) for pid in re.findall(rb"pid (\d+)", self.data)]


def run_bash(
    host: LocalJobHost,
    script: str,
    output: Output | None = None,
    **options: object,
) -> tuple[StepExit, Output, float]:
    output = output or Output()
    command = StepCommand(
        argv=["bash", "-c", script],
        cwd=host.workspace,
        env=dict(STEP_ENV),
        on_output=output,
        **options,  # type: ignore[arg-type]
    )
    started = time.monotonic()
    result = host.run(command)
    return result, output, time.monotonic() - started


def is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def assert_all_gone(pids: list[int]) -> None:
    # Killed orphans are reaped by init; give it a moment.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and not all(is_gone(pid) for pid in pids):
        time.sleep(0.01)
    assert [pid for pid in pids if not is_gone(pid)] == []


# --- the job's host -------------------------------------------------------


def test_prepare_job_makes_a_private_temp_dir_that_close_removes(tmp_path: Path) -> None:
    executor = LocalExecutor()
    first = executor.prepare_job("build (3.11, ubuntu)", str(tmp_path))
    second = executor.prepare_job("build (3.11, ubuntu)", str(tmp_path))
    try:
        assert executor.name == "local"
        assert first.workspace == str(tmp_path)
        for job_host in (first, second):
            temp_dir = Path(job_host.temp_dir)
            assert temp_dir.is_dir()
            assert temp_dir.parent == Path(tempfile.gettempdir())
            assert temp_dir.name.startswith("conveyor-build_3.11_ubuntu-")
            assert temp_dir.stat().st_mode & 0o077 == 0  # private to us
        assert first.temp_dir != second.temp_dir
        (Path(first.temp_dir) / "script.sh").write_text("echo hi\n")
    finally:
        first.close()
        second.close()
    assert not Path(first.temp_dir).exists()
    assert not Path(second.temp_dir).exists()
    first.close()  # closing twice is harmless


# --- output ---------------------------------------------------------------


def test_stdout_and_stderr_arrive_merged_in_the_order_written(host: LocalJobHost) -> None:
    script = "for i in $(seq 1 300); do echo out $i; echo err $i >&2; done"
    result, output, _ = run_bash(host, script)
    expected = "".join(f"out {i}\nerr {i}\n" for i in range(1, 301)).encode()
    assert result == StepExit(exit_code=0)
    assert output.data == expected


def test_output_is_streamed_while_the_step_still_runs(
    any_host: LocalJobHost, tmp_path: Path
) -> None:
    # The step waits for a file that the test only creates after it has seen the
    # step's first line: without streaming, the step would time out.
    go = tmp_path / "go"

    def create_go_file_once_ready(seen: bytes) -> None:
        if b"ready" in seen:
            go.touch()

    script = f"echo ready; until [ -e {go} ]; do sleep 0.01; done; echo finished"
    result, output, _ = run_bash(any_host, script, Output(create_go_file_once_ready), timeout=5)
    assert result == StepExit(exit_code=0)
    assert output.data == b"ready\nfinished\n"


def test_invalid_utf8_bytes_pass_through_untouched(host: LocalJobHost) -> None:
    result, output, _ = run_bash(host, r"printf 'ok \xff\xfe\x80 \xc3\x28 end\n'")
    assert result.exit_code == 0
    assert output.data == b"ok \xff\xfe\x80 \xc3\x28 end\n"


def test_fifty_megabytes_stream_through_with_bounded_memory(host: LocalJobHost) -> None:
    size = 50 * 1024 * 1024
    received = 0
    largest_chunk = 0

    def count(chunk: bytes) -> None:
        nonlocal received, largest_chunk
        received += len(chunk)
        largest_chunk = max(largest_chunk, len(chunk))

    command = StepCommand(["head", "-c", str(size), "/dev/zero"], host.workspace, STEP_ENV, count)
    tracemalloc.start()
    try:
        result = host.run(command)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == StepExit(exit_code=0)
    assert received == size
    assert largest_chunk <= CHUNK_SIZE
    assert peak < 4 * 1024 * 1024


def test_output_written_before_a_timeout_is_still_delivered(host: LocalJobHost) -> None:
    result, output, _ = run_bash(host, "echo before; sleep 30", timeout=0.3)
    assert result.timed_out
    assert output.data == b"before\n"


# --- what the step sees ---------------------------------------------------


def test_the_step_gets_exactly_the_given_env_cwd_and_no_stdin(host: LocalJobHost) -> None:
    env = {"PATH": STEP_ENV["PATH"], "GREETING": "hello world", "EMPTY": ""}
    output = Output()
    result = host.run(StepCommand(["env"], host.workspace, env, output))
    assert result.exit_code == 0
    seen = dict(line.split("=", 1) for line in output.data.decode().splitlines())
    assert seen == env

    result, output, _ = run_bash(host, "pwd; readlink /proc/self/fd/0; cat")
    assert result.exit_code == 0
    assert output.data.decode().splitlines() == [host.workspace, "/dev/null"]


# --- exit codes -----------------------------------------------------------


@pytest.mark.parametrize("code", [0, 1, 3, 255])
def test_exit_code_is_reported(any_host: LocalJobHost, code: int) -> None:
    result, _, _ = run_bash(any_host, f"exit {code}")
    assert result == StepExit(exit_code=code)


@pytest.mark.parametrize(("signal_name", "code"), [("TERM", 143), ("KILL", 137), ("SEGV", 139)])
def test_death_by_signal_reports_128_plus_the_signal(
    any_host: LocalJobHost, signal_name: str, code: int
) -> None:
    result, _, _ = run_bash(any_host, f"kill -{signal_name} $$")
    assert result == StepExit(exit_code=code)


def test_a_step_that_closes_its_output_early_is_still_waited_for(any_host: LocalJobHost) -> None:
    result, output, elapsed = run_bash(any_host, "echo bye; exec >&- 2>&-; sleep 0.3; exit 4")
    assert result == StepExit(exit_code=4)
    assert output.data == b"bye\n"
    assert elapsed >= 0.3


# --- timeouts and cancellation --------------------------------------------

# Three nested processes under the step's own. The inner two moved to a session
# of their own with setsid and stopped writing to the step's output, so neither
# the step's process group nor the output pipe leads to them: only the parent
# links, collected while the step still runs, do.
NESTED_TREE = """
echo pid $$
bash -c '
  echo pid $$
  setsid bash -c "
    echo pid \\$\\$
    sleep 30 </dev/null >/dev/null 2>&1 &
    echo pid \\$!
    exec >/dev/null 2>&1
    wait
  " &
  wait
' &
wait
"""


def test_timeout_kills_the_whole_tree_even_escaped_children(any_host: LocalJobHost) -> None:
    result, output, elapsed = run_bash(any_host, NESTED_TREE, timeout=0.5)
    assert result == StepExit(exit_code=None, timed_out=True)
    pids = output.pids()
    assert len(pids) == 4
    assert_all_gone(pids)
    assert elapsed < 0.5 + GRACE


def test_timeout_stops_a_step_that_never_stops_printing(host: LocalJobHost) -> None:
    # The pipe is never quiet, so the deadline must be checked inside the read loop.
    received = 0

    def count(chunk: bytes) -> None:
        nonlocal received
        received += len(chunk)

    command = StepCommand(["yes"], host.workspace, STEP_ENV, count, timeout=0.3)
    started = time.monotonic()
    result = host.run(command)
    assert result == StepExit(exit_code=None, timed_out=True)
    assert received > 0
    assert time.monotonic() - started < 1.0


def test_cancel_from_another_thread_kills_the_tree(any_host: LocalJobHost) -> None:
    cancellation = Cancellation()
    seen_all = threading.Event()

    def cancel_once_all_started(seen: bytes) -> None:
        if seen.count(b"pid ") == 4 and not seen_all.is_set():
            seen_all.set()
            # Cancel from a different thread, as the engine or a Ctrl-C handler does.
            threading.Thread(target=cancellation.cancel).start()

    result, output, elapsed = run_bash(
        any_host,
        NESTED_TREE,
        Output(cancel_once_all_started),
        cancellation=cancellation,
        timeout=10,
    )
    assert seen_all.is_set()
    assert result == StepExit(exit_code=None, cancelled=True)
    assert_all_gone(output.pids())
    assert elapsed < 2.0


def test_a_step_ignoring_sigterm_is_killed_after_the_grace_period(host: LocalJobHost) -> None:
    # An ignored signal stays ignored across exec, so `sleep` ignores SIGTERM too.
    result, output, elapsed = run_bash(
        host, "trap '' TERM; sleep 30 & echo pid $!; wait", timeout=0.2
    )
    assert result.timed_out
    assert_all_gone(output.pids())
    assert 0.2 + GRACE <= elapsed < 0.2 + GRACE + 1.0


def test_a_step_cancelled_before_it_starts_never_runs(host: LocalJobHost, tmp_path: Path) -> None:
    cancellation = Cancellation()
    cancellation.cancel()
    marker = tmp_path / "ran"
    result, _, _ = run_bash(host, f"touch {marker}", cancellation=cancellation)
    assert result == StepExit(exit_code=None, cancelled=True)
    assert not marker.exists()


def test_a_failing_output_consumer_raises_and_leaves_no_process(host: LocalJobHost) -> None:
    pids: list[int] = []

    def explode(chunk: bytes) -> None:
        pids.extend(int(pid) for pid in re.findall(rb"pid (\d+)", chunk))
        raise RuntimeError("consumer bug")

    command = StepCommand(
        ["bash", "-c", "echo pid $$; sleep 30"], host.workspace, STEP_ENV, explode
    )
    with pytest.raises(RuntimeError, match="consumer bug"):
        host.run(command)
    assert len(pids) == 1
    assert_all_gone(pids)


# --- processes left behind ------------------------------------------------


def test_a_background_process_holding_the_pipe_does_not_block_the_step(
    any_host: LocalJobHost,
) -> None:
    result, output, elapsed = run_bash(any_host, "(sleep 300 &) ; echo done")
    assert result == StepExit(exit_code=0)
    assert output.data == b"done\n"
    assert elapsed < 1.0


def test_processes_left_in_the_group_are_killed_when_the_step_ends(host: LocalJobHost) -> None:
    script = "(sleep 300 & echo pid $!) ; sleep 300 >/dev/null 2>&1 & echo pid $!; echo done"
    result, output, elapsed = run_bash(host, script)
    assert result == StepExit(exit_code=0)
    assert output.data.endswith(b"done\n")
    assert elapsed < 1.0
    pids = output.pids()
    assert len(pids) == 2
    assert_all_gone(pids)


def test_a_setsid_daemon_holding_the_pipe_is_found_and_killed(
    any_host: LocalJobHost, tmp_path: Path
) -> None:
    pid_file = tmp_path / "daemon.pid"
    script = (
        f"setsid bash -c 'echo $$ > {pid_file}; exec sleep 300' &\n"
        f"until [ -s {pid_file} ]; do sleep 0.01; done\n"
        "echo done"
    )
    result, output, elapsed = run_bash(any_host, script)
    daemon = int(pid_file.read_text())
    assert result == StepExit(exit_code=0)
    assert output.data == b"done\n"
    assert elapsed < 1.0
    assert_all_gone([daemon])


def test_with_orphans_kept_for_the_job_a_background_server_outlives_its_step(
    tmp_path: Path,
) -> None:
    # `server >log 2>&1 &` in one step, used by the next: works on GitHub, whose
    # runner ends orphans only when the job ends.
    job_host = LocalExecutor().prepare_job("job", str(tmp_path))
    try:
        started, output, _ = run_bash(job_host, "sleep 300 >/dev/null 2>&1 & echo pid $!")
        assert started == StepExit(exit_code=0)
        [server] = output.pids()
        assert not is_gone(server)
        used, _, _ = run_bash(job_host, f"kill -0 {server}")
        assert used == StepExit(exit_code=0)
        # What holds the step's output is still ended with the step.
        held, output, elapsed = run_bash(job_host, "(sleep 300 & echo pid $!) ; echo done")
        assert held == StepExit(exit_code=0)
        assert elapsed < 1.0
        assert_all_gone(output.pids())
        assert not is_gone(server)
    finally:
        job_host.close()
    assert_all_gone([server])


# Waits until the background process has its own session, so that it has surely
# escaped the step's process group before the step ends.
ESCAPE_WITHOUT_A_TRACE = """
setsid sleep 300 </dev/null >/dev/null 2>&1 &
echo pid $!
until [ "$(cut -d' ' -f6 /proc/$!/stat)" = "$!" ]; do sleep 0.01; done
"""


def test_close_ends_escaped_processes_carrying_the_jobs_tracking_id(tmp_path: Path) -> None:
    job_host = LocalExecutor().prepare_job("job", str(tmp_path))
    env = {**STEP_ENV, "RUNNER_TRACKING_ID": f"conveyor_test_{uuid.uuid4().hex}"}
    tracked, untracked = Output(), Output()
    try:
        script = ["bash", "-c", ESCAPE_WITHOUT_A_TRACE]
        assert job_host.run(StepCommand(script, str(tmp_path), env, tracked)).exit_code == 0
        # Emptying the variable is GitHub's documented way to outlive the job.
        opted_out = {**env, "RUNNER_TRACKING_ID": ""}
        assert job_host.run(StepCommand(script, str(tmp_path), opted_out, untracked)) == StepExit(
            exit_code=0
        )
        [escaped] = tracked.pids()
        [kept] = untracked.pids()
        # Neither its process group nor the output pipe leads to it: it outlived the step.
        assert not is_gone(escaped)
        job_host.close()
        assert_all_gone([escaped])
        assert not is_gone(kept)
    finally:
        job_host.close()
        for pid in untracked.pids():
            os.kill(pid, signal.SIGKILL)


def test_the_orphans_setting_is_checked() -> None:
    with pytest.raises(ValueError, match="orphans must be 'step' or 'job', not 'never'"):
        LocalExecutor(orphans="never")


# --- steps that cannot start ----------------------------------------------


def test_a_missing_shell_is_reported_by_name(host: LocalJobHost) -> None:
    for shell, expected in [
        ("conveyor-no-such-shell", "executable 'conveyor-no-such-shell' not found"),
        ("/nonexistent/bin/bash", "executable not found: /nonexistent/bin/bash"),
    ]:
        result = host.run(StepCommand([shell, "-e", "x.sh"], host.workspace, STEP_ENV, Output()))
        assert result.exit_code is None
        assert result.error is not None
        assert expected in result.error


def test_a_bad_working_directory_is_reported_by_path(host: LocalJobHost, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    result = host.run(StepCommand(["bash", "-c", "true"], str(missing), STEP_ENV, Output()))
    assert result.exit_code is None
    assert result.error == f"the step's working directory does not exist: {missing}"

    a_file = tmp_path / "file.txt"
    a_file.write_text("")
    result = host.run(StepCommand(["bash", "-c", "true"], str(a_file), STEP_ENV, Output()))
    assert result.error == f"the step's working directory is not a directory: {a_file}"


def test_a_program_without_execute_permission_is_reported(
    host: LocalJobHost, tmp_path: Path
) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    result = host.run(StepCommand([str(script)], host.workspace, STEP_ENV, Output()))
    assert result.exit_code is None
    assert result.error == f"cannot start the step: permission denied executing {script}"


def test_a_nul_character_in_the_env_is_reported_without_its_value(host: LocalJobHost) -> None:
    env = {**STEP_ENV, "API_TOKEN": "sec\0ret"}
    result = host.run(StepCommand(["true"], host.workspace, env, Output()))
    assert result.exit_code is None
    assert result.error == (
        "cannot start the step: environment variable API_TOKEN contains a NUL character"
    )


def test_an_enormous_timeout_is_accepted(host: LocalJobHost) -> None:
    result, _, _ = run_bash(host, "exit 0", timeout=1e12)
    assert result == StepExit(exit_code=0)


def test_an_empty_command_is_reported(host: LocalJobHost) -> None:
    result = host.run(StepCommand([], host.workspace, STEP_ENV, Output()))
    assert result == StepExit(exit_code=None, error="cannot start the step: its command is empty")


# --- concurrency and cost -------------------------------------------------


def test_jobs_run_steps_at_the_same_time_without_mixing_output(tmp_path: Path) -> None:
    executor = LocalExecutor()
    hosts = [executor.prepare_job(f"job{index}", str(tmp_path)) for index in range(2)]
    outputs = [Output(), Output()]
    results: list[StepExit | None] = [None, None]

    def run(index: int) -> None:
        script = f"for i in $(seq 1 200); do echo job{index} $i; done"
        command = StepCommand(["bash", "-c", script], str(tmp_path), STEP_ENV, outputs[index])
        results[index] = hosts[index].run(command)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for job_host in hosts:
        job_host.close()
    for index in range(2):
        assert results[index] == StepExit(exit_code=0)
        expected = "".join(f"job{index} {i}\n" for i in range(1, 201)).encode()
        assert outputs[index].data == expected


def test_waiting_for_a_quiet_step_costs_almost_no_cpu(any_host: LocalJobHost) -> None:
    cpu_before = time.thread_time()
    result, _, _ = run_bash(any_host, "sleep 0.3", timeout=10)
    cpu_used = time.thread_time() - cpu_before
    assert result == StepExit(exit_code=0)
    assert cpu_used < 0.03  # a busy loop would burn the whole 0.3 s


def test_running_a_step_adds_under_a_millisecond_to_spawning_it(host: LocalJobHost) -> None:
    def raw_spawn() -> None:
        process = subprocess.Popen(
            ["true"],
            cwd=host.workspace,
            env=STEP_ENV,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert process.stdout is not None
        process.stdout.read()
        process.wait()
        process.stdout.close()

    def step() -> None:
        host.run(StepCommand(["true"], host.workspace, STEP_ENV, Output()))

    timings: dict[Callable[[], None], list[float]] = {raw_spawn: [], step: []}
    for _ in range(40):  # interleaved, so load from elsewhere hits both alike
        for action, samples in timings.items():
            started = time.perf_counter()
            action()
            samples.append(time.perf_counter() - started)
    # The fastest run of each is its cost without interference from other load.
    overhead = min(timings[step]) - min(timings[raw_spawn])
    assert overhead < 0.001
