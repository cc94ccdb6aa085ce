"""Benchmark `conveyor server` against Buildbot 4 on this machine, on loopback.

    .venv/bin/python bench/server/run.py           # full: 50 pushes, 3 bursts of 200, 200 MB log
    .venv/bin/python bench/server/run.py --quick   # smoke check: 10 pushes, 1 burst of 40, 50 MB
    .venv/bin/python bench/server/run.py --profile --pushes 20   # where a push's time goes

Writes the Markdown report to bench/results/server.md and prints it. Both servers run
at the same time with the same number of workers; their pushes and bursts alternate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVER_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(SERVER_DIR), str(SERVER_DIR.parent)]  # these modules, then bench/'s

import buildbot_peer  # noqa: E402
from buildbot_peer import BuildbotMaster  # noqa: E402
from conveyor_peer import ConveyorServer  # noqa: E402
from machine import describe_machine  # noqa: E402  (bench/machine.py)
from scenarios import (  # noqa: E402
    LatencyTarget,
    conveyor_breakdown,
    measure_latency,
    push_and_wait,
    run_big_log,
    run_burst,
    tree_rss,
)
from server_report import ServerResults, render_server_report  # noqa: E402
from server_workloads import (  # noqa: E402
    BURST_COMMAND,
    StampCollector,
    big_output_command,
    conveyor_workflow,
    network_stamp_command,
    stamp_command,
)
from services import BenchError, Project  # noqa: E402

RESULTS_DIR = SERVER_DIR.parent / "results"
SETTLE_SECONDS = 2.0  # before an idle-memory reading: let the last run's clean-up end


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller figures (smoke check)")
    parser.add_argument("--pushes", type=int, help="pushes per server for (a) (default 50)")
    parser.add_argument("--burst", type=int, help="runs per burst for (b) (default 200)")
    parser.add_argument("--rounds", type=int, help="bursts per server for (b) (default 3)")
    parser.add_argument("--big-mb", type=int, help="MB the (c) step prints (default 200)")
    parser.add_argument("--workers", type=int, default=2,
                        help="conveyor's worker threads and Buildbot's workers (default 2)")
    parser.add_argument("--no-buildbot", action="store_true", help="measure conveyor alone")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="conveyor's jobs unsandboxed (to see what the sandbox costs)")
    parser.add_argument("--no-setup", action="store_true",
                        help="do not install Buildbot when it is missing")
    parser.add_argument("--burst-timeout", type=float, default=900.0,
                        help="seconds one burst may take before it counts as failed")
    parser.add_argument("--profile", action="store_true",
                        help="instead: cProfile conveyor server over --pushes pushes "
                        "(bench/results/server-profile.txt)")
    parser.add_argument("--output", type=Path, default=None,
                        help="where the report goes (default: bench/results/server.md, "
                        "or server-profile.txt with --profile)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    quick = {"pushes": 10, "burst": 40, "rounds": 1, "big_mb": 50}
    full = {"pushes": 50, "burst": 200, "rounds": 3, "big_mb": 200}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("pushes", "burst", "rounds", "big_mb", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def _ensure_buildbot(args: argparse.Namespace) -> bool:
    if buildbot_peer.is_installed() or args.no_setup:
        return buildbot_peer.is_installed()
    completed = subprocess.run(["bash", str(buildbot_peer.SETUP_SCRIPT)], check=False)
    if completed.returncode != 0:
        print(f"bench: {buildbot_peer.SETUP_SCRIPT.name} failed (exit {completed.returncode})",
              file=sys.stderr)
    return buildbot_peer.is_installed()


def _header(args: argparse.Namespace, with_buildbot: bool) -> dict[str, str]:
    header = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    header.update(describe_machine())
    header["peers"] = (f"conveyor server ({args.workers} worker threads, SQLite) and "
                       + (f"{buildbot_peer.version()} (master + {args.workers} local workers, "
                          "SQLite)" if with_buildbot else "no Buildbot"))
    header["work"] = (f"(a) {args.pushes} pushes each, interleaved; (b) {args.rounds} "
                      f"burst(s) of {args.burst} push deliveries each, alternating; "
                      f"(c) one step printing {args.big_mb} MB")
    return header


def run_benchmark(args: argparse.Namespace, root: Path) -> ServerResults:
    with_buildbot = not args.no_buildbot and _ensure_buildbot(args)
    results = ServerResults(_header(args, with_buildbot))
    if not args.no_buildbot and not with_buildbot:
        results.failures.append("Buildbot is not installed and could not be: conveyor alone")
    big_command, big_bytes, big_lines = big_output_command(args.big_mb)
    projects: dict[str, dict[str, Project]] = {}
    targets: list[LatencyTarget] = []
    peers: list[ConveyorServer | BuildbotMaster] = []
    try:
        stamps = root / "stamps-conveyor"
        stamps.mkdir()
        # Conveyor's jobs are sandboxed: their stamps come over the network.
        collector = StampCollector(stamps)
        projects["conveyor"] = {
            "latency": Project.create(root / "conveyor", "latency", {
                ".conveyor.yml": conveyor_workflow(
                    "latency", network_stamp_command(collector.port))}),
            "burst": Project.create(root / "conveyor", "burst", {
                ".conveyor.yml": conveyor_workflow("burst", BURST_COMMAND)}),
            "big": Project.create(root / "conveyor", "big", {
                ".conveyor.yml": conveyor_workflow("big", big_command)}),
        }
        print("bench: starting conveyor server", flush=True)
        conveyor = ConveyorServer.start(root, args.workers, sandbox=not args.no_sandbox)
        peers.append(conveyor)
        for project in projects["conveyor"].values():
            conveyor.add_repository(project)
        targets.append(LatencyTarget(conveyor, projects["conveyor"]["latency"], stamps))
        if with_buildbot:
            stamps = root / "stamps-buildbot"
            stamps.mkdir()
            projects["Buildbot"] = {
                "latency": Project.create(root / "buildbot", "latency", {"README": "latency\n"}),
                "burst": Project.create(root / "buildbot", "burst", {"README": "burst\n"}),
            }
            print("bench: starting Buildbot (master and workers)", flush=True)
            buildbot = BuildbotMaster.start(root, args.workers, {
                "latency": (projects["Buildbot"]["latency"].bare, stamp_command(stamps)),
                "burst": (projects["Buildbot"]["burst"].bare, BURST_COMMAND),
            })
            peers.append(buildbot)
            buildbot.install_hook(projects["Buildbot"]["latency"])
            targets.append(LatencyTarget(buildbot, projects["Buildbot"]["latency"], stamps))
        (root / "plain").mkdir()
        plain = Project.create(root / "plain", "plain", {"README": "plain\n"})

        # One run each (not counted): mirrors, clones and workers are warm, as on a server
        # that has been up for a while; then the idle reading.
        for target in targets:
            push_and_wait(target, -1)
        for target in targets:
            target.timings.clear()
        time.sleep(SETTLE_SECONDS)
        results.idle_rss = {peer.name: tree_rss(_pids(peer)) for peer in peers}

        print(f"bench: (a) {args.pushes} pushes each", flush=True)
        measure_latency(targets, args.pushes, plain, results.plain_push_seconds)
        results.latency = targets
        results.breakdown = conveyor_breakdown(conveyor.data / "conveyor.sqlite3", "latency",
                                               targets[0])

        print(f"bench: (b) {args.rounds} burst(s) of {args.burst} runs each", flush=True)
        for round_number in range(1, args.rounds + 1):
            order = peers if round_number % 2 else peers[::-1]
            for peer in order:
                burst = run_burst(peer, projects[peer.name]["burst"], f"r{round_number}-",
                                  args.burst, args.burst_timeout)
                print(f"  round {round_number}: {peer.name} {burst.done_seconds:.1f} s "
                      f"({burst.succeeded}/{burst.runs} succeeded)", flush=True)
                results.bursts.append(burst)

        print(f"bench: (c) a step printing {args.big_mb} MB into conveyor's database", flush=True)
        results.big_log = run_big_log(conveyor, projects["conveyor"]["big"], big_bytes,
                                      big_lines, args.burst_timeout)
        time.sleep(SETTLE_SECONDS)
        results.idle_rss_after = {peer.name: tree_rss(_pids(peer)) for peer in peers}
    except (BenchError, OSError) as error:  # OSError: includes HTTP and git failing to start
        results.failures.append(f"{type(error).__name__}: {error}")
        for peer in peers:
            services = [peer.service] if isinstance(peer, ConveyorServer) else [peer.master]
            for service in services:
                if service.process.poll() is not None:
                    results.failures.append(f"{service.name} log tail: {service.tail(800)}")
    finally:
        for peer in peers:
            peer.stop()
    return results


def _pids(peer: ConveyorServer | BuildbotMaster) -> list[int]:
    return [peer.service.pid] if isinstance(peer, ConveyorServer) else peer.pids


def main(argv: list[str] | None = None) -> int:
    args = _parse_arguments(argv)
    if args.profile:
        from profile_push import profile_pushes

        text = profile_pushes(args.pushes, args.workers)
        output = args.output or RESULTS_DIR / "server-profile.txt"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        print(text)
        print(f"bench: written to {os.path.relpath(output)}", flush=True)
        return 0
    output = args.output or RESULTS_DIR / "server.md"
    root = Path(tempfile.mkdtemp(prefix="conveyor-server-bench-"))
    root.chmod(0o711)  # a root server's job sandbox user passes through to the workspaces
    try:
        results = run_benchmark(args, root)
    finally:
        if args.keep:
            print(f"bench: kept {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
    text = render_server_report(results)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(text)
    print(f"bench: written to {os.path.relpath(output)}", flush=True)
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
