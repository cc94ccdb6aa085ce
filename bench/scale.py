"""Scale-out benchmark (issue 10): sleep-bound jobs on 1, 2 and 4 workers, next to Buildbot.

    .venv/bin/python bench/scale.py                                  # 200 jobs of `sleep 1`
    .venv/bin/python bench/scale.py --quick                          # 20 jobs of `sleep 0.5`
    .venv/bin/python bench/scale.py --quick --modes conveyor-embedded   # under a minute

One push starts the work: a workflow whose matrix makes JOBS jobs, each one step
`sleep S`, or for Buildbot one change making JOBS build requests of one builder.
Every step sends its own start and end time (bash's $EPOCHREALTIME, no process) to
a collector in this process, so both tools are timed by the same clock the same
way; Conveyor's own timestamps (API) are reported next to them.
Writes bench/results/scale.md and prints it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR / "server"), str(BENCH_DIR)]  # bench/server's modules, bench's

import buildbot_peer  # noqa: E402
from buildbot_peer import BuildbotMaster  # noqa: E402
from conveyor_peer import FINISHED, ConveyorServer  # noqa: E402
from machine import describe_machine  # noqa: E402
from measure import percentile  # noqa: E402
from server_workloads import StampCollector  # noqa: E402
from services import (  # noqa: E402
    BenchError,
    Project,
    Service,
    git,
    http_json,
    start_service,
    wait_until,
)

REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
MODES = ("conveyor-embedded", "conveyor-celery", "buildbot")
# A database of its own on the shared Redis, so other processes' queues never mix with these.
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/11"


# -- the work ------------------------------------------------------------------------------


def step_command(leg: str, sleep_seconds: float, collector_port: int) -> str:
    """The one step of a job: its start time, the sleep, its end time, each sent as
    "s-<leg> <time>" / "e-<leg> <time>" to the collector (bash's /dev/tcp: a sandboxed
    job sees no host directory, and no process is started for a stamp)."""
    send = f"> /dev/tcp/127.0.0.1/{collector_port}"
    return (
        f'echo "s-{leg} $EPOCHREALTIME" {send}; sleep {sleep_seconds:g}; '
        f'echo "e-{leg} $EPOCHREALTIME" {send}'
    )


def conveyor_workflow(jobs: int, sleep_seconds: float, max_parallel: int, port: int) -> str:
    legs = ", ".join(str(leg) for leg in range(1, jobs + 1))
    command = step_command("${{ matrix.leg }}", sleep_seconds, port).replace("'", "''")
    return (
        "name: scale\non: push\njobs:\n  sleep:\n    runs-on: ubuntu-latest\n    strategy:\n"
        f"      max-parallel: {max_parallel}\n      matrix:\n        leg: [{legs}]\n"
        f"    steps:\n      - name: sleep\n        run: '{command}'\n"
    )


def buildbot_config(jobs: int, sleep_seconds: float, port: int):
    """master.cfg maker: one builder running on every worker, one build at a time per
    worker, and a scheduler that turns each change into `jobs` build requests of it.

    Buildbot has no matrix. A build's steps run one after another on one worker, so one
    build of 200 steps could not use a second worker; 200 builders (one request each)
    make its build request distributor slow with the number of builders (6 s between
    builds with 200, measured here). The scheduler is Buildbot's own AnyBranchScheduler
    adding one buildset per leg, the leg as a build property, as a custom scheduler may.
    """
    command = step_command("%(prop:leg)s", sleep_seconds, port)

    def config(www_port: int, pb_port: int, workers: list[str]) -> str:
        return buildbot_peer.master_header(www_port, pb_port, workers, max_builds=1) + (
            "from buildbot.process.properties import Properties\n"
            "from twisted.internet import defer\n\n\n"
            "class Matrix(schedulers.AnyBranchScheduler):\n"
            "    @defer.inlineCallbacks\n"
            "    def addBuildsetForChanges(self, **kwargs):\n"
            f"        for leg in range(1, {jobs} + 1):\n"
            "            properties = Properties()\n"
            "            properties.setProperty('leg', leg, 'matrix')\n"
            "            yield super().addBuildsetForChanges(**{**kwargs, "
            "'properties': properties})\n\n\n"
            "c['builders'] = [util.BuilderConfig(\n"
            f"    name='scale', workernames={workers!r},\n"
            "    factory=util.BuildFactory([steps.ShellCommand(\n"
            f"        name='sleep', command=['bash', '-c', util.Interpolate({command!r})],\n"
            "        workdir='.')]))]\n"
            "c['schedulers'] = [Matrix(name='scale', treeStableTimer=None, "
            "builderNames=['scale'])]\n"
        )

    return config


# -- one pass: one mode, one number of workers ----------------------------------------------


@dataclass
class Pass:
    mode: str
    workers: int
    jobs: int
    sleep_seconds: float
    pushed: float = 0.0  # wall clock when `git push` started: every job is ready from then
    starts: dict[str, float] = field(default_factory=dict)  # leg -> its step's start stamp
    ends: dict[str, float] = field(default_factory=dict)
    succeeded: int = 0
    # Conveyor only, from its API: run created_at - pushed; step started_at - run created_at
    run_created_after_push: float | None = None
    api_waits: list[float] = field(default_factory=list)
    error: str = ""

    @property
    def complete(self) -> bool:
        return not self.error and len(self.starts) == len(self.ends) == self.jobs

    @property
    def wall(self) -> float:
        return max(self.ends.values()) - self.pushed

    @property
    def ideal(self) -> float:
        return self.jobs * self.sleep_seconds / self.workers

    def peak_concurrency(self) -> int:
        # Ends before starts at the same instant: a slot handed over is not two jobs.
        events = sorted(
            [(t, 1) for t in self.starts.values()] + [(t, -1) for t in self.ends.values()],
            key=lambda e: (e[0], e[1]),
        )
        running = peak = 0
        for _, change in events:
            running += change
            peak = max(peak, running)
        return peak

    def waits(self) -> list[float]:
        """Per job: its step's start - the push (all jobs are ready at once)."""
        return sorted(start - self.pushed for start in self.starts.values())

    def handovers(self) -> list[float]:
        """Per job that waited for a slot: its start - the end of the job whose slot it took.

        With at most k jobs at once, the i-th job to start (i >= k) could only start
        once i-k+1 jobs had ended, so the (i-k)-th end freed its slot: the gap is what
        the tool spends between one job's last command and the next job's first one.
        """
        k = self.peak_concurrency()
        starts, ends = sorted(self.starts.values()), sorted(self.ends.values())
        return [starts[i] - ends[i - k] for i in range(k, len(starts))]


def _read_stamps(stamps: Path, run: Pass) -> None:
    for path in stamps.iterdir():
        if path.name.startswith("."):
            continue
        kind, _, leg = path.name.partition("-")
        target = run.starts if kind == "s" else run.ends
        target[leg] = float(path.read_text().strip())


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _clean_env() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("CONVEYOR_") and name != "DJANGO_SETTINGS_MODULE"
    }


def _help(python: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, "-m", "conveyor", command, "--help"],
        cwd=REPO_DIR,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class CelerySupport:
    """What this checkout offers for the Celery mode."""

    unavailable: str = ""  # why the mode cannot run; "" when it can
    no_workers: bool = False  # `conveyor server --no-workers` exists
    worker_flags: frozenset[str] = frozenset()  # --name, --dir, --no-sandbox when offered


def celery_support(python: str) -> CelerySupport:
    worker = _help(python, "worker")
    if worker.returncode != 0:
        return CelerySupport("not available in this checkout (no `conveyor worker` command)")
    flags = frozenset(flag for flag in ("--name", "--dir", "--no-sandbox") if flag in worker.stdout)
    return CelerySupport("", "--no-workers" in _help(python, "server").stdout, flags)


def _redis_answers(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 2):
            return True
    except OSError:
        return False


def _worker_command(number: int, root: Path, args: argparse.Namespace) -> list[str]:
    command = [sys.executable, "-m", "conveyor", "worker", "--concurrency", "1"]
    flags = args.celery.worker_flags
    # Workers of one machine each need their own name and directory.
    if "--name" in flags:
        command += ["--name", f"scale{number}@bench"]
    if "--dir" in flags:
        command += ["--dir", str(root / f"worker-{number}")]
    if args.no_sandbox and "--no-sandbox" in flags:
        command.append("--no-sandbox")
    return command


def run_conveyor(run: Pass, root: Path, args: argparse.Namespace, celery: bool) -> None:
    stamps = root / "stamps"
    stamps.mkdir(parents=True)
    collector = StampCollector(stamps)
    workers: list[Service] = []
    server: ConveyorServer | None = None
    try:
        project = Project.create(
            root,
            "scale",
            {
                ".conveyor.yml": conveyor_workflow(
                    run.jobs, run.sleep_seconds, run.workers, collector.port
                )
            },
        )
        if celery:
            token = secrets.token_urlsafe(24)
            broker = {"CONVEYOR_BROKER_URL": args.broker_url, "CONVEYOR_WORKER_TOKEN": token}
            # Without --no-workers the server's embedded threads only coordinate runs
            # (one each); the jobs still go to the workers through the broker.
            server = ConveyorServer.start(
                root,
                None if args.celery.no_workers else 2,
                sandbox=not args.no_sandbox,
                env_extra=broker,
            )
            for number in range(1, run.workers + 1):
                env = {**_clean_env(), **broker, "CONVEYOR_SERVER_URL": server.url, "NO_COLOR": "1"}
                workers.append(
                    start_service(
                        f"conveyor worker {number}",
                        _worker_command(number, root, args),
                        REPO_DIR,
                        env,
                        root / f"conveyor-worker-{number}.log",
                    )
                )
            time.sleep(2.0)  # their first heartbeat: the server knows its workers
            for worker in workers:
                worker.check_alive()
        else:
            server = ConveyorServer.start(root, run.workers, sandbox=not args.no_sandbox)
        server.add_repository(project)
        project.commit({"PASS": f"{run.mode} {run.workers}\n"}, "the pass")
        run.pushed, _ = project.push("scale")

        def run_finished() -> tuple[str, int] | None:
            for service in (server.service, *workers):
                service.check_alive()
            status, _, number = server.last_run(project)
            return (status, number) if status in FINISHED else None

        status, number = wait_until(run_finished, _timeout(run), "the run to finish", 0.2)
        detail = http_json(
            "GET",
            f"{server.url}/api/repositories/scale/runs/{number}",
            headers={"Authorization": f"Bearer {server.token}"},
        )
        created = _parse_time(detail["created_at"])
        run.run_created_after_push = created - run.pushed
        for job in detail["jobs"]:
            step = next((s for s in job["steps"] if s["name"] == "sleep"), None)
            if step and step["started_at"]:
                run.api_waits.append(_parse_time(step["started_at"]) - created)
            run.succeeded += job["status"] == "success"
        if celery:
            _check_dispatched(server, run)
        if status != "success" and not run.error:
            failed = next((job for job in detail["jobs"] if job["status"] != "success"), None)
            why = f" ({failed['name']}: {failed['status']}, {failed['reason']})" if failed else ""
            run.error = f"the run ended {status}: {detail.get('reason', '')}{why}"
    finally:
        for worker in workers:
            worker.stop()
        if server is not None:
            server.stop()
        time.sleep(0.2)  # the last stamps in flight
        collector.close()
        _read_stamps(stamps, run)


def _check_dispatched(server: ConveyorServer, run: Pass) -> None:
    """A server that does not send jobs to the broker runs them itself, and the figures
    would be the embedded mode's: count the attempts it recorded as sent to workers."""
    try:
        rows = server._query("select count(distinct job_key) from dispatch_jobdispatch")
    except sqlite3.Error as error:
        rows = [(0,)]
        print(f"  cannot count the dispatched jobs: {error}", flush=True)
    sent = rows[0][0] if rows else 0
    if sent < run.jobs:
        run.error = (
            f"only {sent} of {run.jobs} jobs were sent to the workers (dispatch_jobdispatch): "
            "this checkout's server runs the others itself, so these are not Celery figures"
        )


def run_buildbot(run: Pass, root: Path) -> None:
    stamps = root / "stamps"
    stamps.mkdir(parents=True)
    collector = StampCollector(stamps)
    master: BuildbotMaster | None = None
    try:
        project = Project.create(root, "scale", {"README": "scale\n"})
        master = BuildbotMaster.start(
            root,
            run.workers,
            {},
            config=buildbot_config(run.jobs, run.sleep_seconds, collector.port),
        )
        master.install_hook(project)
        project.commit({"PASS": f"{run.mode} {run.workers}\n"}, "the pass")
        run.pushed, _ = project.push("scale")

        def all_done() -> tuple[int, int] | None:
            master._connected_workers()  # raises when a process died
            counts = master.finished_runs("scale")
            return counts if counts[0] >= run.jobs else None

        _, run.succeeded = wait_until(all_done, _timeout(run), f"{run.jobs} builds", 0.2)
        if run.succeeded != run.jobs:
            run.error = f"{run.jobs - run.succeeded} builds did not succeed"
    finally:
        if master is not None:
            master.stop()
        time.sleep(0.2)
        collector.close()
        _read_stamps(stamps, run)


def _timeout(run: Pass) -> float:
    return run.ideal * 4 + 180


def run_pass(run: Pass, root: Path, args: argparse.Namespace) -> None:
    print(
        f"bench: {run.mode}, {run.workers} worker(s): {run.jobs} jobs of sleep "
        f"{run.sleep_seconds:g} s",
        flush=True,
    )
    try:
        if run.mode == "buildbot":
            run_buildbot(run, root)
        else:
            run_conveyor(run, root, args, celery=run.mode == "conveyor-celery")
    except (BenchError, OSError) as error:
        run.error = f"{type(error).__name__}: {error}"
    if run.complete:
        print(
            f"  wall {run.wall:.2f} s (ideal {run.ideal:.2f} s), {run.peak_concurrency()} at once",
            flush=True,
        )
    else:
        legs = {str(leg) for leg in range(1, run.jobs + 1)}
        run.error = run.error or (
            f"only {len(run.starts)} starts and {len(run.ends)} ends of {run.jobs} jobs "
            f"were stamped (no start: {sorted(legs - set(run.starts))}, no end: "
            f"{sorted(legs - set(run.ends))})"
        )
        print(f"  failed: {run.error[:400]}", flush=True)


# -- the report ------------------------------------------------------------------------------


def _s(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds * 1000:.0f} ms" if abs(seconds) < 1 else f"{seconds:.2f} s"


def _p(values: list[float], fraction: float) -> float | None:
    return percentile(values, fraction) if values else None


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or not denominator:
        return "—"
    return f"{numerator / denominator:.2f}x"


def render(passes: list[Pass], header: dict[str, str], skipped: dict[str, str]) -> str:
    lines = ["# Scale-out benchmark: jobs on 1, 2 and 4 workers", ""]
    lines += [f"- {name}: {value}" for name, value in header.items()]
    lines += [f"- {mode}: {why}" for mode, why in skipped.items()]
    done = [run for run in passes if run.complete]
    single = {run.mode: run for run in done if run.workers == 1}

    lines += [
        "",
        "### Throughput",
        "",
        "| mode | workers | jobs | wall (push → last job's end) | jobs/s | speed-up "
        "vs 1 worker | efficiency (ideal ÷ wall) | most jobs at once |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in done:
        throughput = run.jobs / run.wall
        base = single.get(run.mode)
        speedup = f"{base.wall / run.wall:.2f}x" if base else "—"
        lines.append(
            f"| {run.mode} | {run.workers} | {run.succeeded}/{run.jobs} | "
            f"{_s(run.wall)} | {throughput:.2f} | {speedup} | "
            f"{run.ideal / run.wall:.0%} (ideal {_s(run.ideal)}) | "
            f"{run.peak_concurrency()} |"
        )

    lines += [
        "",
        "### Dispatch latency",
        "",
        "| mode | workers | first job's step started, after the push | push → step "
        "start p50 | p95 | handover p50 | p95 |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in done:
        waits, gaps = run.waits(), run.handovers()
        lines.append(
            f"| {run.mode} | {run.workers} | {_s(waits[0])} | {_s(_p(waits, 0.5))} | "
            f"{_s(_p(waits, 0.95))} | {_s(_p(gaps, 0.5))} | {_s(_p(gaps, 0.95))} |"
        )

    buildbot = {run.workers: run for run in done if run.mode == "buildbot"}
    ratio_rows = []
    for run in done:
        peer = buildbot.get(run.workers)
        if run.mode == "buildbot" or peer is None:
            continue
        gaps, peer_gaps = run.handovers(), peer.handovers()
        ratio_rows.append(
            f"| {run.mode} ÷ buildbot | {run.workers} | {_ratio(run.wall, peer.wall)} | "
            f"{_ratio(peer.wall, run.wall)} | {_ratio(run.waits()[0], peer.waits()[0])} | "
            f"{_ratio(_p(gaps, 0.5), _p(peer_gaps, 0.5))} | "
            f"{_ratio(_p(gaps, 0.95), _p(peer_gaps, 0.95))} |"
        )
    if ratio_rows:
        lines += [
            "",
            "### Conveyor ÷ Buildbot (below 1: Conveyor takes less time; "
            "throughput: above 1, Conveyor does more)",
            "",
            "| ratio | workers | wall | throughput | first job started | handover p50 "
            "| handover p95 |",
            "|---|---|---|---|---|---|---|",
            *ratio_rows,
        ]

    own = [run for run in done if run.api_waits]
    if own:
        lines += [
            "",
            "### Conveyor's own timestamps (API: run `created_at`, the step's `started_at`)",
            "",
            "| mode | workers | run created, after the push | run created → step "
            "started p50 | p95 | first |",
            "|---|---|---|---|---|---|",
        ]
        for run in own:
            waits = sorted(run.api_waits)
            lines.append(
                f"| {run.mode} | {run.workers} | {_s(run.run_created_after_push)} | "
                f"{_s(_p(waits, 0.5))} | {_s(_p(waits, 0.95))} | {_s(waits[0])} |"
            )

    failed = [run for run in passes if not run.complete]
    if failed:
        lines += ["", "### Failures", ""]
        lines += [f"- {run.mode}, {run.workers} worker(s): {run.error[-600:]}" for run in failed]
    return "\n".join(lines) + "\n"


# -- the command ----------------------------------------------------------------------------


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="20 jobs of sleep 0.5 s instead of 200 of 1 s"
    )
    parser.add_argument("--jobs", type=int, help="jobs in the matrix (default 200; quick 20)")
    parser.add_argument(
        "--sleep", type=float, help="seconds each job sleeps (default 1; quick 0.5)"
    )
    parser.add_argument("--workers", default="1,2,4", help="worker counts (default 1,2,4)")
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help=f"comma-separated, from {', '.join(MODES)} (default: all)",
    )
    parser.add_argument(
        "--broker-url",
        default=DEFAULT_BROKER_URL,
        help=f"Redis for conveyor-celery (default {DEFAULT_BROKER_URL})",
    )
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="Conveyor's jobs unsandboxed (what the sandbox costs)",
    )
    parser.add_argument(
        "--no-setup", action="store_true", help="do not install Buildbot when it is missing"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "scale.md")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (20 if args.quick else 200)
    args.sleep = args.sleep if args.sleep is not None else (0.5 if args.quick else 1.0)
    try:
        args.worker_counts = [int(count) for count in args.workers.split(",") if count.strip()]
    except ValueError:
        parser.error(f"--workers {args.workers!r}: comma-separated whole numbers, e.g. 1,2,4")
    args.mode_list = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    unknown = [mode for mode in args.mode_list if mode not in MODES]
    if unknown:
        parser.error(f"--modes: unknown {', '.join(unknown)} (known: {', '.join(MODES)})")
    if args.jobs < 1 or args.sleep < 0 or not args.worker_counts or min(args.worker_counts) < 1:
        parser.error("--jobs and every --workers count must be at least 1, --sleep 0 or more")
    return args


def _header(args: argparse.Namespace) -> dict[str, str]:
    header = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    header["commit"] = git("log", "-1", "--format=%h %s", cwd=REPO_DIR)
    header.update(describe_machine())
    header["work"] = (
        f"one push; {args.jobs} jobs, each one step `sleep {args.sleep:g}`; "
        f"workers {', '.join(map(str, args.worker_counts))}"
    )
    return header


def main(argv: list[str] | None = None) -> int:
    args = _parse_arguments(argv)
    skipped: dict[str, str] = {}
    modes = list(args.mode_list)
    args.celery = CelerySupport()
    if "conveyor-celery" in modes:
        args.celery = celery_support(sys.executable)
        why = args.celery.unavailable
        if not why and not _redis_answers(args.broker_url):
            why = f"Redis does not answer at {args.broker_url}"
        if why:
            skipped["conveyor-celery"] = why
            modes.remove("conveyor-celery")
            print(f"bench: conveyor-celery: {why}", flush=True)
    if "buildbot" in modes:
        if not buildbot_peer.is_installed() and not args.no_setup:
            subprocess.run(["bash", str(buildbot_peer.SETUP_SCRIPT)], check=False)
        if buildbot_peer.is_installed():
            args.buildbot_version = buildbot_peer.version()
        else:
            skipped["buildbot"] = f"not installed ({buildbot_peer.SETUP_SCRIPT} failed)"
            modes.remove("buildbot")
    header = _header(args)
    if "conveyor-celery" in modes:
        header["conveyor-celery"] = (
            "`conveyor server --no-workers`"
            if args.celery.no_workers
            else "`conveyor server` (no `--no-workers` in this checkout: its 2 embedded threads "
            "coordinate runs, the jobs go through the broker)"
        ) + f" and N `conveyor worker --concurrency 1` on {args.broker_url}"
    if "buildbot" in modes:
        header["Buildbot"] = f"{args.buildbot_version}, a master and N `buildbot-worker`s"
    root = Path(tempfile.mkdtemp(prefix="conveyor-scale-bench-"))
    root.chmod(0o711)  # a root server's job sandbox user passes through to the workspaces
    passes: list[Pass] = []
    try:
        for workers in args.worker_counts:
            for mode in modes:
                run = Pass(mode, workers, args.jobs, args.sleep)
                passes.append(run)
                run_pass(run, root / f"{mode}-{workers}", args)
    finally:
        if args.keep:
            print(f"bench: kept {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
    header["load average at the end"] = " ".join(f"{value:.2f}" for value in os.getloadavg())
    text = render(passes, header, skipped)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    print(f"bench: written to {os.path.relpath(args.output)}", flush=True)
    return 1 if any(not run.complete for run in passes) else 0


if __name__ == "__main__":
    sys.exit(main())
