"""cProfile `conveyor run` on one workload, every Python thread included.

The parent (`profile_report`) prepares the project and starts this file as a
child: `python profiling.py OUT.prof ARGS...` profiles `conveyor.cli.main(ARGS)`
in-process. cProfile alone sees only the thread that starts it; output readers
often live in other threads, so each new thread gets its own profiler and all
of them are merged.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only for type hints: the profiled child must not pre-import what conveyor imports.
    from peers import Tool
    from workloads import Workload

TOP_ROWS = 30


def _profile_cli(output_path: str, cli_arguments: list[str]) -> int:
    thread_profiles: list[cProfile.Profile] = []

    def start_thread_profile(*_: object) -> None:
        # Runs once in each new thread; enable() replaces this hook with cProfile's own.
        profile = cProfile.Profile()
        thread_profiles.append(profile)
        profile.enable()

    threading.setprofile(start_thread_profile)
    main_profile = cProfile.Profile()
    main_profile.enable()
    exit_code = 0
    try:
        from conveyor.cli import main

        exit_code = main(cli_arguments) or 0
    except SystemExit as stop:
        exit_code = stop.code if isinstance(stop.code, int) else 1
    finally:
        main_profile.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
    stats = pstats.Stats(main_profile)
    for profile in thread_profiles:
        stats.add(profile)
    stats.dump_stats(output_path)
    return exit_code


def profile_report(workload: Workload, conveyor_tool: Tool) -> str:
    from peers import VENV_BIN, prepare_project

    with tempfile.TemporaryDirectory(prefix="conveyor-profile-") as temporary:
        root = Path(temporary)
        marker = root / "marker"
        project = root / "project"
        prepare_project(conveyor_tool, workload.with_marker(marker), project)
        stats_path = root / "conveyor.prof"
        # One run first, unprofiled, as the benchmark's warm-up: what is profiled is a
        # developer's usual run, whose workflow is read from the parsed-workflow cache.
        subprocess.run([str(VENV_BIN / "conveyor"), "run", "--workflow", ".conveyor.yml"],
                       cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
        if workload.clean_between_runs:
            subprocess.run(["git", "clean", "-ffdxq"], cwd=project, check=True)
        command = [str(VENV_BIN / "python"), str(Path(__file__).resolve()), str(stats_path),
                   "run", "--workflow", ".conveyor.yml"]
        started = time.perf_counter()
        with (root / "stdout").open("wb") as stdout:
            completed = subprocess.run(command, cwd=project, stdout=stdout,
                                       stderr=subprocess.PIPE, check=False)
        seconds = time.perf_counter() - started
        header = [
            f"cProfile of `conveyor run` on {workload.title}",
            f"wall time under the profiler: {seconds:.2f} s; exit code {completed.returncode}; "
            f"marker written: {marker.exists()}; stdout {(root / 'stdout').stat().st_size} bytes",
        ]
        if completed.returncode != 0 or not stats_path.exists():
            header.append(completed.stderr.decode("utf-8", "replace")[-2000:])
        if not stats_path.exists():
            return "\n".join(header) + "\n"
        buffer = io.StringIO()
        stats = pstats.Stats(str(stats_path), stream=buffer)
        stats.strip_dirs()
        buffer.write(f"\n=== top {TOP_ROWS} by cumulative time ===\n")
        stats.sort_stats("cumulative").print_stats(TOP_ROWS)
        buffer.write(f"\n=== top {TOP_ROWS} by own time ===\n")
        stats.sort_stats("tottime").print_stats(TOP_ROWS)
        return "\n".join(header) + "\n" + buffer.getvalue()


if __name__ == "__main__":
    sys.exit(_profile_cli(sys.argv[1], sys.argv[2:]))
