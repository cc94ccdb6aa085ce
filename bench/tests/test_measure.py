"""Measuring real processes: time, peak memory of the tree, timeouts, failures."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from measure import Sample, percentile, run_measured, summarize

MIB = 1024 * 1024
# Touch every page so the memory is resident, then hold it long enough to be sampled.
ALLOCATE = "import time; block = bytearray({size}); block[::4096] = b'x' * len(block[::4096]); "\
           "time.sleep({hold})"


def _run(tmp_path: Path, command: list[str], timeout: float = 30.0) -> Sample:
    return run_measured(command, tmp_path, dict(os.environ), tmp_path / "out", tmp_path / "err",
                        timeout)


def test_peak_memory_of_one_process(tmp_path: Path) -> None:
    # Short-lived: the kernel's figure must catch it even if sampling does not.
    sample = _run(tmp_path, [sys.executable, "-c", ALLOCATE.format(size=120 * MIB, hold=0)])
    assert sample.ok, sample.error
    assert sample.peak_rss_bytes >= 120 * MIB
    assert not sample.peak_is_upper_bound


def test_peak_memory_adds_up_the_whole_tree(tmp_path: Path) -> None:
    child = ALLOCATE.format(size=60 * MIB, hold=0.5)
    script = f"{sys.executable} -c \"{child}\" & {sys.executable} -c \"{child}\" & wait"
    sample = _run(tmp_path, ["bash", "-c", script])
    assert sample.ok, sample.error
    # Two 60 MiB children alive together: more than either alone.
    assert sample.peak_rss_bytes >= 115 * MIB


def test_stdout_goes_to_the_file_and_time_is_wall_time(tmp_path: Path) -> None:
    sample = _run(tmp_path, ["bash", "-c", "sleep 0.3; echo hello"])
    assert sample.ok
    assert 0.3 <= sample.seconds < 2
    assert (tmp_path / "out").read_text() == "hello\n"


def test_failure_is_reported_not_raised(tmp_path: Path) -> None:
    sample = _run(tmp_path, ["bash", "-c", "echo oops >&2; exit 4"])
    assert not sample.ok
    assert sample.exit_code == 4 and sample.error == "exit code 4"
    assert (tmp_path / "err").read_text() == "oops\n"


def test_missing_program_is_reported(tmp_path: Path) -> None:
    sample = _run(tmp_path, [str(tmp_path / "no-such-tool")])
    assert not sample.ok and "could not start" in sample.error


def test_timeout_kills_the_whole_tree(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    started = time.monotonic()
    sample = _run(tmp_path, ["bash", "-c", f"sleep 60 & echo $! > {pid_file}; wait"], timeout=0.5)
    assert sample.timed_out and not sample.ok
    assert time.monotonic() - started < 5
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_percentile_interpolates() -> None:
    values = [float(value) for value in range(1, 11)]
    assert percentile(values, 0.5) == 5.5
    assert abs(percentile(values, 0.9) - 9.1) < 1e-9
    assert percentile([7.0], 0.9) == 7.0


def test_summary_ignores_failed_runs() -> None:
    samples = [Sample(1.0, 10, 0), Sample(3.0, 30, 0), Sample(100.0, 999, 1, error="exit code 1"),
               Sample(2.0, 20, 0)]
    summary = summarize(samples)
    assert summary is not None
    assert summary.count == 3 and summary.median_seconds == 2.0 and summary.peak_rss_bytes == 30
    assert summarize([Sample(1.0, 1, 1, error="exit code 1")]) is None


def test_a_fork_that_has_not_exec_d_is_not_counted_twice(tmp_path: Path) -> None:
    # The parent holds 100 MiB and forks; the child shares those pages and never execs.
    code = ALLOCATE.format(size=100 * MIB, hold=0) + (
        "; import os; pid = os.fork()\n"
        "if pid == 0: time.sleep(0.5); os._exit(0)\n"
        "os.waitpid(pid, 0)"
    )
    sample = _run(tmp_path, [sys.executable, "-c", code])
    assert sample.ok, sample.error
    assert 100 * MIB <= sample.peak_rss_bytes < 150 * MIB


def test_a_long_lived_fork_is_counted(tmp_path: Path) -> None:
    # A worker forked without exec that lives on and allocates its own memory is real:
    # parent 60 MiB; child shares those and adds 60 MiB after its first second.
    code = "\n".join([
        "import os, time",
        "def hold(size): block = bytearray(size); block[::4096] = b'x' * len(block[::4096]);"
        " return block",
        f"mine = hold({60 * MIB})",
        "pid = os.fork()",
        "if pid == 0:",
        f"    time.sleep(1.2); theirs = hold({60 * MIB}); time.sleep(0.5); os._exit(0)",
        "os.waitpid(pid, 0)",
    ])
    sample = _run(tmp_path, [sys.executable, "-c", code])
    assert sample.ok, sample.error
    # Summed: parent 60 + child (60 shared + 60 own); the largest single process is ~120.
    assert sample.peak_rss_bytes >= 170 * MIB
