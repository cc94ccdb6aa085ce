"""Benchmark of `conveyor deploy` (issue 12's Speed): deploy time cold and warm, and failed
requests during a deploy and a rollback, next to the plain rsync + restart script.

    .venv/bin/python bench/deploy.py                 # 5 repetitions, about 6 minutes
    .venv/bin/python bench/deploy.py --quick         # 2 repetitions
    .venv/bin/python bench/deploy.py --conveyor before=/tmp/old/src --conveyor after=src

The sample project is the deploy tests' Django shop (``tests/cli/deploy_projects.py``:
startproject, an app whose view says its version, ``/healthz``, a migration, Django and
gunicorn in requirements.txt), made afresh in a git repository for every repetition.
Each repetition runs every tool, in an order that rotates, so load bursts from other
work on this shared machine fall on all of them:

- **conveyor** (``python -m conveyor deploy`` with ``PYTHONPATH`` at a ``src`` tree, so
  two versions can be compared in one run): v1 to an empty target (cold: no release, an
  empty package cache), then v2 (warm: a changed commit, the caches filled), then
  ``conveyor rollback`` to v1;
- **rsync script** (``bench/deploy_rsync.sh``): the same three moves, into its own
  directory on its own port: rsync + ``pip install`` into one venv + collectstatic +
  migrate + stop the old gunicorn and start the new one on the same port; its
  "rollback" is the script run on v1's files again.

A load loop (CLIENTS threads, a new connection per ``GET /`` with the project's Host, on
127.0.0.1, PAUSE_SECONDS between a client's requests) hits the tool's address from the
start of the cold deploy to the end of the rollback. Per move: the time until the new
version answers a request (**live**), the time until the command exits (**total**: for
conveyor it includes the post-switch watch of WATCH_SECONDS and stopping the old
server), the requests that failed (non-200 or a connection error) between the command's
start and max(exit, live), and the longest stretch with no successful answer. Failures
of the cold move are not counted: nothing served yet.

Prints a Markdown report and writes it to ``bench/results/deploy.md``; each conveyor run's
output, every line stamped with its time since start, goes to ``bench/results/deploy-logs/``
(where the time goes). Bounded: a timeout per command, and every server it starts is
stopped.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.cli import deploy_projects as shop  # noqa: E402
from tests.helpers import conveyor_env  # noqa: E402

RESULTS = ROOT / "bench" / "results"
RSYNC_SCRIPT = ROOT / "bench" / "deploy_rsync.sh"
CLIENTS = 4
# Each client's pause between requests: at most ~50 requests/s a client, so that the
# load measures gaps (a 20 ms pause cannot hide one) without taking the 2 cores from
# the deploy it watches.
PAUSE_SECONDS = 0.02
WATCH_SECONDS = 3
COMMAND_TIMEOUT = 300.0
MOVES = ["cold", "warm", "rollback"]
HOST = "shop.example"


@dataclass
class Answer:
    at: float  # perf_counter when the answer (or the error) came
    ok: bool
    body: str


class LoadLoop:
    """CLIENTS threads sending GET / to ``port`` until stopped; every answer recorded."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.answers: list[Answer] = []
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(CLIENTS)]
        for thread in self.threads:
            thread.start()

    def _client(self) -> None:
        while not self.stopped.is_set():
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                connection.request("GET", "/", headers={"Host": HOST})
                response = connection.getresponse()
                body = response.read().decode(errors="replace").strip()
                self.answers.append(Answer(time.perf_counter(), response.status == 200, body))
            except (OSError, http.client.HTTPException) as error:
                self.answers.append(Answer(time.perf_counter(), False, repr(error)))
            finally:
                connection.close()
            time.sleep(PAUSE_SECONDS)

    def stop(self) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(30)

    def first(self, body: str, since: float) -> float | None:
        return next(
            (a.at for a in list(self.answers) if a.at >= since and a.ok and a.body == body), None
        )

    def window(self, start: float, end: float) -> tuple[int, int, float]:
        """(answered, failed, longest stretch without a success) between start and end."""
        inside = [a for a in list(self.answers) if start <= a.at <= end]
        failed = sum(1 for a in inside if not a.ok)
        successes = [start] + [a.at for a in inside if a.ok] + [end]
        gap = max(b - a for a, b in itertools.pairwise(successes))
        return len(inside), failed, gap


@dataclass
class Move:
    live: float | None  # seconds from start until the new version answered
    total: float  # seconds until the command exited
    exit_code: int
    answered: int = 0
    failed: int = 0
    longest_gap: float = 0.0


@dataclass
class Tool:
    name: str
    moves: dict[str, list[Move]] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def timed(
    argv: list[str], cwd: Path, env: dict[str, str], load: LoadLoop, version: str, log: Path
) -> Move:
    """Run ``argv``; its output stamped into ``log``; wait until ``version`` answers."""
    started = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            out.write(f"{time.perf_counter() - started:7.3f} {line}")
        try:
            code = process.wait(COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            code = process.wait()
    ended = time.perf_counter()
    live_at = load.first(f"shop {version}", started)
    deadline = ended + 20
    while live_at is None and code == 0 and time.perf_counter() < deadline:
        time.sleep(0.02)  # the rsync script's gunicorn still starting after it exited
        live_at = load.first(f"shop {version}", started)
    move = Move(None if live_at is None else live_at - started, ended - started, code)
    end = max(ended, live_at or ended)
    move.answered, move.failed, move.longest_gap = load.window(started, end)
    return move


class Repetition:
    """One fresh project; each tool deploys it cold, warm, and rolls it back."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.project = shop.make_shop(root / "shop", root / "unused", "127.0.0.1:1")
        self.v1 = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=self.project,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        shop.set_version(self.project, "v2")
        shop.commit(self.project, "v2")
        self.env = conveyor_env()

    def checkout(self, revision: str) -> None:
        subprocess.run(["git", "checkout", "-q", revision], cwd=self.project, check=True)

    def conveyor(self, name: str, src: str, logs: Path) -> dict[str, Move]:
        target = self.root / f"{name}-target"
        port = free_port()
        bind = f"127.0.0.1:{port}"
        env = {**self.env, "PYTHONPATH": src}
        deploy = [
            sys.executable,
            "-m",
            "conveyor",
            "deploy",
            "--target",
            str(target),
            "--bind",
            bind,
            "--health-path",
            "/healthz",
            "--shared",
            "db.sqlite3",
            "--watch-seconds",
            str(WATCH_SECONDS),
        ]
        rollback = [sys.executable, "-m", "conveyor", "rollback", "--target", str(target)]
        load = LoadLoop(port)
        moves: dict[str, Move] = {}
        try:
            self.checkout(self.v1)
            moves["cold"] = timed(deploy, self.project, env, load, "v1", logs / f"{name}-cold.log")
            self.checkout("main")
            moves["warm"] = timed(deploy, self.project, env, load, "v2", logs / f"{name}-warm.log")
            moves["rollback"] = timed(
                rollback, self.project, env, load, "v1", logs / f"{name}-rollback.log"
            )
        finally:
            load.stop()
            self.checkout("main")
            subprocess.run(
                [sys.executable, "-m", "conveyor", "deploy", "stop", "--target", str(target)],
                env=env,
                capture_output=True,
                timeout=120,
            )
        return moves

    def rsync_script(self, logs: Path) -> dict[str, Move]:
        app = self.root / "rsync-app"
        port = free_port()
        script = ["bash", str(RSYNC_SCRIPT), str(self.project), str(app), f"127.0.0.1:{port}"]
        load = LoadLoop(port)
        moves: dict[str, Move] = {}
        try:
            self.checkout(self.v1)
            moves["cold"] = timed(
                script, self.project, self.env, load, "v1", logs / "rsync-cold.log"
            )
            self.checkout("main")
            moves["warm"] = timed(
                script, self.project, self.env, load, "v2", logs / "rsync-warm.log"
            )
            self.checkout(self.v1)
            moves["rollback"] = timed(
                script, self.project, self.env, load, "v1", logs / "rsync-rollback.log"
            )
        finally:
            load.stop()
            self.checkout("main")
            stop_gunicorn(app / "gunicorn.pid")
        return moves


def stop_gunicorn(pid_file: Path) -> None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(300):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def render(tools: list[Tool], repetitions: int, load_average: str) -> str:
    lines = [
        "# Deploy benchmark",
        "",
        f"{os.cpu_count()} cores, load average at start {load_average}; {repetitions} "
        f"repetitions, medians; {CLIENTS} client threads on the tool's address, each pausing "
        f"{PAUSE_SECONDS * 1000:.0f} ms between requests; conveyor's "
        f"watch after the switch: {WATCH_SECONDS} s (in **total**, not in **live**).",
        "",
        "| tool | move | live | total | failed requests (sum) | answered | longest gap "
        "without a 200 | runs failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for tool in tools:
        for move_name in MOVES:
            moves = tool.moves.get(move_name, [])
            if not moves:
                continue
            failed = (
                "— (nothing served yet)"
                if move_name == "cold"
                else str(sum(m.failed for m in moves))
            )
            lines.append(
                f"| {tool.name} | {move_name} | {seconds(median([m.live for m in moves]))} "
                f"| {seconds(median([m.total for m in moves]))} | {failed} "
                f"| {sum(m.answered for m in moves)} "
                f"| {seconds(median([m.longest_gap for m in moves]))} "
                f"| {sum(1 for m in moves if m.exit_code != 0 or m.live is None)} |"
            )
    lines += ["", "Ratios (conveyor ÷ rsync script, medians; below 1: conveyor faster):", ""]
    rsync = next((t for t in tools if t.name == "rsync script"), None)
    for tool in tools:
        if tool is rsync or rsync is None:
            continue
        for move_name in MOVES:
            for what in ("live", "total"):
                mine = median([getattr(m, what) for m in tool.moves.get(move_name, [])])
                theirs = median([getattr(m, what) for m in rsync.moves.get(move_name, [])])
                if mine is not None and theirs:
                    lines.append(f"- {tool.name}, {move_name}, {what}: {mine / theirs:.2f}x")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 repetitions")
    parser.add_argument("--repetitions", type=int, default=None)
    parser.add_argument(
        "--conveyor",
        action="append",
        metavar="NAME=SRC",
        help="a conveyor to measure: a name and its src directory "
        "(default: conveyor=src of this tree); repeatable",
    )
    parser.add_argument("--no-rsync", action="store_true", help="leave the rsync script out")
    options = parser.parse_args()
    if shutil.which("rsync") is None and not options.no_rsync:
        raise SystemExit("bench/deploy.py: rsync is not installed (apt-get install rsync)")
    repetitions = options.repetitions or (2 if options.quick else 5)
    conveyors = [item.split("=", 1) for item in options.conveyor or [f"conveyor={ROOT / 'src'}"]]
    names = [name for name, _ in conveyors] + ([] if options.no_rsync else ["rsync script"])
    tools = {name: Tool(name, {move: [] for move in MOVES}) for name in names}
    sources = {name: os.path.abspath(src) for name, src in conveyors}
    logs = RESULTS / "deploy-logs"
    logs.mkdir(parents=True, exist_ok=True)
    load_average = " ".join(f"{value:.2f}" for value in os.getloadavg())
    for number in range(repetitions):
        root = Path(tempfile.mkdtemp(prefix="conveyor-deploy-bench-"))
        try:
            repetition = Repetition(root)
            order = names[number % len(names) :] + names[: number % len(names)]
            for name in order:
                print(f"repetition {number + 1}/{repetitions}: {name}", file=sys.stderr)
                if name == "rsync script":
                    moves = repetition.rsync_script(logs)
                else:
                    moves = repetition.conveyor(name, sources[name], logs)
                for move_name, move in moves.items():
                    tools[name].moves[move_name].append(move)
                    print(
                        f"  {move_name}: live {seconds(move.live)}, total "
                        f"{seconds(move.total)}, {move.failed} failed of {move.answered}, "
                        f"exit {move.exit_code}",
                        file=sys.stderr,
                    )
        finally:
            shutil.rmtree(root, ignore_errors=True)
    report = render(list(tools.values()), repetitions, load_average)
    print(report)
    (RESULTS / "deploy.md").write_text(report)
    conveyor_failed = sum(
        m.failed
        for name in sources
        for move in ("warm", "rollback")
        for m in tools[name].moves[move]
    )
    if conveyor_failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
