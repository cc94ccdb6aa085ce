"""Run one command and measure it: wall time from start to exit, and peak memory.

Peak memory is the larger of two figures: the sum of RSS over the whole process
tree (forks that have not exec'd yet left out), sampled every `POLL_SECONDS`,
and the kernel's exact peak RSS of the largest single process in the tree (from
wait4). Sampling can miss a
short spike; the kernel figure cannot, but it does not add processes up.

Linux carries a forked child's RSS high-water mark across exec, so the kernel
figure starts at this harness's own peak; it is used only when it is above that,
where it can only have come from the measured tree.
"""

from __future__ import annotations

import os
import resource
import signal
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

POLL_SECONDS = 0.02
MINIMUM_SAMPLES = 2
FRESH_FORK_SECONDS = 1.0


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_rss_bytes: int
    exit_code: int | None
    timed_out: bool = False
    error: str = ""
    # True when the run was too short to sample and smaller than the harness itself:
    # peak_rss_bytes is then the harness's size, an upper bound.
    peak_is_upper_bound: bool = False

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class Summary:
    count: int
    median_seconds: float
    p90_seconds: float
    peak_rss_bytes: int
    peak_is_upper_bound: bool


def _is_fresh_fork(process: psutil.Process, command_lines: dict[int, list[str]]) -> bool:
    """A young child with its parent's command line is a fork about to exec: its pages
    are the parent's, and counting them again would double the figure. Long-lived forks
    (a prefork server's workers) are counted like any process."""
    if command_lines.get(process.ppid()) != command_lines[process.pid]:
        return False
    return time.time() - process.create_time() < FRESH_FORK_SECONDS


def _tree_rss(root: psutil.Process) -> int:
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    command_lines: dict[int, list[str]] = {}
    for process in processes:
        try:
            command_lines[process.pid] = process.cmdline()
        except psutil.Error:
            command_lines[process.pid] = []
    total = 0
    for process in processes:
        try:
            if process is not root and _is_fresh_fork(process, command_lines):
                continue
            total += process.memory_info().rss
        except psutil.Error:
            pass  # exited between listing and reading: nothing left to count
    return total


class _TreeMemoryPoller:
    def __init__(self, pid: int) -> None:
        self.peak_bytes = 0
        self.samples_taken = 0
        self._stop = threading.Event()
        try:
            self._root: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self._root = None
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> _TreeMemoryPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        if self._root is None:
            return
        while not self._stop.is_set():
            tree_bytes = _tree_rss(self._root)
            if tree_bytes:
                self.samples_taken += 1
                self.peak_bytes = max(self.peak_bytes, tree_bytes)
            self._stop.wait(POLL_SECONDS)


def _wait_with_timeout(pid: int, timeout_seconds: float) -> tuple[int, object, bool]:
    """wait4 the child; kill its process group if it outlives the timeout."""
    fired = threading.Event()

    def kill_tree() -> None:
        fired.set()
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout_seconds, kill_tree)
    timer.start()
    try:
        _, status, usage = os.wait4(pid, 0)
    finally:
        timer.cancel()
    return status, usage, fired.is_set()


def run_measured(
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    stdout_path: Path,
    stderr_path: Path,
    timeout_seconds: float,
) -> Sample:
    """Run `command` in `cwd`, its stdout and stderr going to files; never raises for
    the command's own failures (they come back in `Sample.error`)."""
    harness_peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with stdout_path.open("wb") as stdout_file, stderr_path.open("wb") as stderr_file:
        started = time.perf_counter()
        try:
            # Own session, so a timeout can kill the whole tree with one killpg.
            process = subprocess.Popen(
                command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                stdout=stdout_file, stderr=stderr_file, start_new_session=True,
            )
        except OSError as error:
            return Sample(0.0, 0, None, error=f"could not start {command[0]}: {error}")
        with _TreeMemoryPoller(process.pid) as poller:
            status, usage, timed_out = _wait_with_timeout(process.pid, timeout_seconds)
        seconds = time.perf_counter() - started
    # The child is reaped by wait4; keep Popen from trying again.
    process.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss is in kilobytes on Linux.
    kernel_peak_kib = usage.ru_maxrss  # type: ignore[attr-defined]
    kernel_peak = kernel_peak_kib * 1024 if kernel_peak_kib > harness_peak_kib else 0
    # One lone sample of a tree that lived under two poll intervals may have caught a
    # process half-started or half-gone: not a peak.
    sampled_peak = poller.peak_bytes if poller.samples_taken >= MINIMUM_SAMPLES else 0
    peak = max(sampled_peak, kernel_peak)
    upper_bound = peak == 0
    if upper_bound:
        peak = harness_peak_kib * 1024
    exit_code = process.returncode
    if timed_out:
        return Sample(seconds, peak, exit_code, timed_out=True,
                      error=f"timed out after {timeout_seconds:.0f} s",
                      peak_is_upper_bound=upper_bound)
    if exit_code != 0:
        return Sample(seconds, peak, exit_code, error=f"exit code {exit_code}",
                      peak_is_upper_bound=upper_bound)
    return Sample(seconds, peak, exit_code, peak_is_upper_bound=upper_bound)


def percentile(values: list[float], fraction: float) -> float:
    """Linear-interpolated percentile (fraction in 0..1) of a non-empty list."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    weight = position - lower
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def summarize(samples: list[Sample]) -> Summary | None:
    good = [sample for sample in samples if sample.ok]
    if not good:
        return None
    seconds = [sample.seconds for sample in good]
    exact = [sample.peak_rss_bytes for sample in good if not sample.peak_is_upper_bound]
    bounds = [sample.peak_rss_bytes for sample in good if sample.peak_is_upper_bound]
    # Bounded runs were too brief to sample, so an exact figure from another run wins.
    if exact:
        peak, upper_bound = max(exact), False
    else:
        peak, upper_bound = min(bounds), True
    return Summary(
        count=len(good),
        median_seconds=statistics.median(seconds),
        p90_seconds=percentile(seconds, 0.9),
        peak_rss_bytes=peak,
        peak_is_upper_bound=upper_bound,
    )
