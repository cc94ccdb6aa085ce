"""Where a push's time goes inside `conveyor server`: cProfile (every thread) over N pushes.

The server runs under bench/profiling.py; the benchmark's latency project is pushed N
times (each push waits for its run to finish), then the server is stopped and its
statistics are reduced to conveyor's own functions on the push path, per push.
"""

from __future__ import annotations

import io
import pstats
import tempfile
from pathlib import Path

from conveyor_peer import ConveyorServer
from scenarios import LatencyTarget, measure_latency, push_and_wait
from server_workloads import StampCollector, conveyor_workflow, network_stamp_command
from services import Project

TOP_ROWS = 45
# The request and run paths; the workers' idle waits and uvicorn's loop would drown them.
FOCUS = r"conveyor/server/(repos|runs)/|conveyor/engine/runner|conveyor/executors/local"


def profile_pushes(pushes: int, workers: int) -> str:
    with tempfile.TemporaryDirectory(prefix="conveyor-server-profile-") as temporary:
        root = Path(temporary)
        stamps = root / "stamps"
        stamps.mkdir()
        root.chmod(0o711)  # a root server's sandbox user passes through to the workspaces
        collector = StampCollector(stamps)
        project = Project.create(root / "projects", "latency", {
            ".conveyor.yml": conveyor_workflow("latency", network_stamp_command(collector.port))})
        plain = Project.create(root / "projects", "plain", {"README": "plain\n"})
        stats_path = root / "server.prof"
        server = ConveyorServer.start(root, workers, profile_to=stats_path)
        try:
            server.add_repository(project)
            target = LatencyTarget(server, project, stamps)
            push_and_wait(target, -1)  # warm: mirror cloned, imports done
            target.timings.clear()
            measure_latency([target], pushes, plain, [], progress=False)
        finally:
            server.stop()
        if not stats_path.exists():
            return f"no profile written; server log:\n{server.service.tail()}\n"
        from statistics import median

        header = [
            f"cProfile of `conveyor server` over {pushes} pushes (plus one warm-up); "
            "cumulative seconds are totals: divide by the number of calls.",
            "push start -> first step, median: "
            f"{median(timing.from_start for timing in target.timings) * 1000:.0f} ms "
            "(under the profiler, slower than without)",
        ]
        buffer = io.StringIO()
        stats = pstats.Stats(str(stats_path), stream=buffer)
        buffer.write(f"\n=== conveyor's push path, top {TOP_ROWS} by cumulative time ===\n")
        stats.sort_stats("cumulative").print_stats(FOCUS, TOP_ROWS)
        buffer.write("\n=== subprocesses (git and the step) by cumulative time ===\n")
        stats.sort_stats("cumulative").print_stats(r"subprocess.py.*(run|communicate|wait)", 10)
        return "\n".join(header) + "\n" + buffer.getvalue()
