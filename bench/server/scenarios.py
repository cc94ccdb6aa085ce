"""The three server measurements: push-to-first-step latency, a burst of runs, memory.

Each takes the peers already started and their projects, runs its loop (bounded
in count and in time) and returns plain figures; `report.py` turns them into a table.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import psutil
from conveyor_peer import ConveyorServer, LiveFollow
from measure import _tree_rss, _TreeMemoryPoller  # bench/measure.py
from services import BenchError, Project, git, wait_until

LATENCY_BRANCH = "latency"
STEP_TIMEOUT_SECONDS = 60.0
BURST_SENDERS = 8  # concurrent webhook deliveries, like a forge's or a busy hook's


class Peer(Protocol):
    name: str

    def trigger_push(self, project: Project, branch: str, sha: str) -> None: ...

    def finished_runs(self, branch_prefix: str) -> tuple[int, int]: ...


@dataclass(frozen=True)
class PushTiming:
    sha: str
    push_started: float  # wall clock, time.time()
    push_returned: float
    step_started: float  # written by the step itself (`date +%s.%N`)

    @property
    def from_return(self) -> float:
        return self.step_started - self.push_returned

    @property
    def from_start(self) -> float:
        return self.step_started - self.push_started

    @property
    def push_seconds(self) -> float:
        return self.push_returned - self.push_started


@dataclass
class LatencyTarget:
    """One peer in the latency loop: where it is pushed to and where its step stamps."""

    peer: Peer
    project: Project
    stamps: Path
    timings: list[PushTiming] = field(default_factory=list)
    runs_finished: int = 0


def _read_stamp(path: Path) -> float | None:
    try:
        return float(path.read_text())
    except (OSError, ValueError):
        return None  # not written yet, or caught between create and write


def push_and_wait(target: LatencyTarget, index: int) -> PushTiming:
    """Commit, push, wait for the step's stamp and for the run to finish (so the next push
    meets an idle server)."""
    sha = target.project.commit({"counter.txt": f"{index}\n"}, f"push {index}")
    started, returned = target.project.push(LATENCY_BRANCH)
    stamp = wait_until(lambda: _read_stamp(target.stamps / sha), STEP_TIMEOUT_SECONDS,
                       f"{target.peer.name}'s step for push {index}", 0.002)
    wait_until(lambda: target.peer.finished_runs(LATENCY_BRANCH)[0] > target.runs_finished,
               STEP_TIMEOUT_SECONDS, f"{target.peer.name}'s run for push {index} to finish", 0.02)
    target.runs_finished += 1
    return PushTiming(sha, started, returned, stamp)


def measure_latency(targets: list[LatencyTarget], pushes: int, plain: Project,
                    plain_push_seconds: list[float], pause_seconds: float = 0.2,
                    progress: bool = True) -> None:
    """`pushes` pushes per peer, interleaved (the order rotating each round); each round
    also pushes `plain`, a repository without hooks: what git alone costs."""
    for index in range(pushes):
        shift = index % len(targets)
        for target in targets[shift:] + targets[:shift]:
            target.timings.append(push_and_wait(target, index))
            time.sleep(pause_seconds)
        plain.commit({"counter.txt": f"{index}\n"}, f"push {index}")
        started, returned = plain.push(LATENCY_BRANCH)
        plain_push_seconds.append(returned - started)
        if progress and (index + 1) % 10 == 0:
            print(f"  latency: {index + 1}/{pushes} pushes each", flush=True)


@dataclass(frozen=True)
class BurstResult:
    peer: str
    runs: int
    accepted_seconds: float  # until every delivery had its answer
    done_seconds: float  # until every run had finished
    succeeded: int

    @property
    def runs_per_second(self) -> float:
        return self.runs / self.done_seconds


def create_branches(project: Project, names: list[str], sha: str) -> None:
    """Make the branches exist in the bare repository (no hooks run): a builder that
    fetches the pushed branch must find it."""
    lines = "".join(f"create refs/heads/{name} {sha}\n" for name in names)
    completed = subprocess.run(["git", "--git-dir", str(project.bare), "update-ref", "--stdin"],
                               input=lines, text=True, capture_output=True, timeout=60,
                               check=False)
    if completed.returncode != 0:
        raise BenchError(f"creating branches in {project.bare}: {completed.stderr.strip()}")


def run_burst(peer: Peer, project: Project, prefix: str, count: int,
              timeout_seconds: float) -> BurstResult:
    """`count` push deliveries at once, each a distinct branch; the time until all are done."""
    sha = git("rev-parse", "HEAD", cwd=project.work)
    branches = [f"{prefix}{index:03d}" for index in range(count)]
    create_branches(project, branches, sha)
    started = time.perf_counter()
    with ThreadPoolExecutor(BURST_SENDERS) as senders:
        for future in [senders.submit(peer.trigger_push, project, branch, sha)
                       for branch in branches]:
            future.result()
    accepted = time.perf_counter() - started

    def all_finished() -> tuple[int, int] | None:
        counts = peer.finished_runs(prefix)
        return counts if counts[0] >= count else None

    finished = wait_until(all_finished, timeout_seconds, f"{count} runs on {peer.name}", 0.05)
    done = time.perf_counter() - started
    return BurstResult(peer.name, count, accepted, done, finished[1])


def tree_rss(pids: list[int]) -> int:
    """Resident memory of these processes and all their descendants, summed."""
    total = 0
    for pid in pids:
        try:
            total += _tree_rss(psutil.Process(pid))
        except psutil.Error:
            pass  # gone: nothing to count
    return total


@dataclass(frozen=True)
class BigLogResult:
    expected_bytes: int
    expected_lines: int
    step_seconds: float
    peak_rss_during_step: int
    downloaded_bytes: int
    download_seconds: float
    peak_rss_during_download: int
    status: str
    watched: LiveFollow | None = None  # a second run, watched live by a logged-in browser
    watched_step_seconds: float = 0.0
    peak_rss_while_watched: int = 0


def _push_big(server: ConveyorServer, project: Project, label: str,
              timeout_seconds: float) -> tuple[str, int, float]:
    """Push the big-output project and wait for its run: (status, run number, seconds)."""
    _, _, previous = server.last_run(project)
    project.commit({"counter.txt": f"{label}\n"}, label)
    started = time.perf_counter()
    project.push("big")

    def finished() -> tuple[str, int] | None:
        status, _, number = server.last_run(project)
        done = number > previous and status not in ("queued", "running")
        return (status, number) if done else None

    status, number = wait_until(finished, timeout_seconds, f"the {label} run to finish", 0.1)
    return status, number, time.perf_counter() - started


def run_big_log(server: ConveyorServer, project: Project, expected_bytes: int,
                expected_lines: int, timeout_seconds: float) -> BigLogResult:
    """Push the project whose step prints `expected_bytes`; sample the server's memory while
    the log streams into the database, then while the whole log is downloaded as text;
    then once more with a logged-in browser watching the run page's live stream."""
    with _TreeMemoryPoller(server.service.pid) as poller:
        status, number, step_seconds = _push_big(server, project, "big output",
                                                 timeout_seconds)
    path = server.step_log_path(project, number)
    started = time.perf_counter()
    with _TreeMemoryPoller(server.service.pid) as download_poller:
        downloaded = server.stream_bytes(path)
    download_seconds = time.perf_counter() - started

    browser = server.browser_session()
    _, _, previous = server.last_run(project)
    watched: list[LiveFollow] = []

    def watch() -> None:
        # Opened as soon as the run exists, as a browser that is sent to the run page is.
        def new_run() -> int | None:
            number = server.last_run(project)[2]
            return number if number > previous else None

        number = wait_until(new_run, 60, "the watched run to exist", 0.005)
        watched.append(server.follow_live_page(browser, project, number, timeout_seconds))

    with _TreeMemoryPoller(server.service.pid) as watched_poller, ThreadPoolExecutor(1) as watcher:
        future = watcher.submit(watch)
        _, _, watched_seconds = _push_big(server, project, "watched big output", timeout_seconds)
        future.result(timeout=timeout_seconds)
    return BigLogResult(expected_bytes, expected_lines, step_seconds, poller.peak_bytes,
                        downloaded, download_seconds, download_poller.peak_bytes, status,
                        watched[0] if watched else None, watched_seconds,
                        watched_poller.peak_bytes)


@dataclass(frozen=True)
class Breakdown:
    """Where one conveyor push's time goes, from the server's own timestamps."""

    push_to_created: float  # push start -> run row written (hook, HTTP, workflow read, enqueue)
    created_to_started: float  # run row -> a worker marked it running (wake-up, claim)
    started_to_step: float  # running -> first step's process (workspace checkout, spawn)
    created_to_push_return: float  # run row -> git push returned (the hook's answer, git)


def _parse_timestamp(text: str) -> float:
    # Django stores UTC datetimes in SQLite as "YYYY-MM-DD HH:MM:SS[.ffffff]".
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def conveyor_breakdown(database: Path, project: str, target: LatencyTarget) -> list[Breakdown]:
    uri = f"file:{database}?mode=ro"
    with sqlite3.connect(uri, uri=True, timeout=10) as connection:
        rows = connection.execute(
            "select r.sha, r.created_at, r.started_at from runs_run r join repos_repository p "
            "on r.repository_id = p.id where p.name = ? and r.ref = ?",
            (project, f"refs/heads/{LATENCY_BRANCH}")).fetchall()
    by_sha = {sha: (created, started) for sha, created, started in rows if started}
    breakdowns = []
    for timing in target.timings:
        if timing.sha not in by_sha:
            continue
        created, started = (_parse_timestamp(text) for text in by_sha[timing.sha])
        breakdowns.append(Breakdown(created - timing.push_started, started - created,
                                    timing.step_started - started,
                                    timing.push_returned - created))
    return breakdowns
