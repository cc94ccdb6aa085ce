"""Benchmark conveyor against act, gitlab-ci-local and plain bash on the same work.

    .venv/bin/python bench/run.py                 # full run, writes bench/results/latest.md
    .venv/bin/python bench/run.py --quick         # a few repetitions, for a smoke check
    .venv/bin/python bench/run.py --import-time   # what `import conveyor.cli` costs
    .venv/bin/python bench/run.py --profile b100  # cProfile conveyor on one workload

Runs are interleaved: each repetition goes once round all tools (in a rotating
order), so a burst of load on this shared machine hits every tool alike.
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

try:
    from importtime import import_time_report
    from machine import describe_machine, describe_versions
    from measure import run_measured
    from peers import BENCH_DIR, REPO_DIR, Tool, all_tools, prepare_project
    from profiling import profile_report
    from report import Contestant, Results, render_report
    from workloads import Workload, all_workloads
except ModuleNotFoundError as missing:  # PyYAML or psutil: not the project's interpreter
    raise SystemExit(
        f"bench: {missing}; run it with the project's venv: .venv/bin/python bench/run.py"
    ) from None

RESULTS_DIR = BENCH_DIR / "results"
STDERR_TAIL_CHARS = 1500

# Workloads measured together in one interleaved group, and how often.
GROUPS: list[tuple[str, list[str]]] = [
    ("a", ["a"]),
    ("b", ["b10", "b100"]),
    ("c", ["c"]),
    ("d", ["d"]),
    ("e", ["e"]),
]
FULL_REPETITIONS = {"a": 21, "b": 11, "c": 5, "d": 15, "e": 11}
QUICK_REPETITIONS = {"a": 5, "b": 3, "c": 2, "d": 3, "e": 3}
# Recorded runs every tool gets, whatever its time budget.
MINIMUM_RUNS = 3
# The Python start-up floor is only meaningful next to the smallest workload.
REFERENCE_ONLY_IN = {"python -c pass": {"a"}, "bash+sed prefix": {"c"}}


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions (smoke check)")
    parser.add_argument("--import-time", action="store_true",
                        help="report `python -X importtime -c 'import conveyor.cli'` instead")
    parser.add_argument("--profile", metavar="WORKLOAD",
                        help="cProfile conveyor on one workload (a, b10, b100, c, d, e) "
                             "instead")
    parser.add_argument("--groups", default="a,b,c,d,e",
                        help="comma-separated workload groups to run (default: a,b,c,d,e)")
    parser.add_argument("--tools", default=None,
                        help="comma-separated tool names (default: all that are installed)")
    parser.add_argument("--repetitions", type=int, default=None,
                        help="repetitions per group (default: per group, fewer with --quick)")
    parser.add_argument("--output-mb", type=int, default=50,
                        help="size of the (c) workload's output in MB (default: 50)")
    parser.add_argument("--timeout", type=float, default=180.0,
                        help="seconds before one run is killed and counted as failed")
    parser.add_argument("--budget", type=float, default=240.0,
                        help="seconds of recorded runs after which a slow tool stops repeating "
                             "(it still gets 3 runs; default: 240)")
    parser.add_argument("--no-setup", action="store_true",
                        help="do not run setup_peers.sh (missing peers are reported as such)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.md",
                        help="where the Markdown report goes (default: bench/results/latest.md)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary projects (their path is printed)")
    return parser.parse_args(argv)


def _setup_peers() -> None:
    script = BENCH_DIR / "setup_peers.sh"
    env = {**os.environ, "CONVEYOR_BENCH_PYTHON": sys.executable}
    completed = subprocess.run(["bash", str(script)], env=env, check=False)
    if completed.returncode != 0:
        print(f"bench: {script.name} failed (exit {completed.returncode}); "
              "peers it could not install are reported as missing", file=sys.stderr)


def _selected_tools(names: str | None) -> dict[str, Tool]:
    tools = all_tools()
    if names is None:
        return tools
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in tools]
    if unknown:
        raise SystemExit(f"bench: unknown tool(s) {', '.join(unknown)}; "
                         f"known: {', '.join(tools)}")
    return {name: tools[name] for name in wanted}


def _run_environment() -> dict[str, str]:
    env = dict(os.environ)
    # No colour codes or version checks: same conditions for every tool.
    env.update({"NO_COLOR": "1", "ACT_DISABLE_VERSION_CHECK": "1", "CI": "true"})
    env.pop("FORCE_COLOR", None)
    return env


class Bench:
    def __init__(self, tools: dict[str, Tool], workloads: dict[str, Workload], root: Path,
                 timeout_seconds: float, budget_seconds: float = 240.0) -> None:
        self.tools = tools
        self.budget_seconds = budget_seconds
        self.workloads = workloads
        self.root = root
        self.timeout_seconds = timeout_seconds
        self.env = _run_environment()
        self.contestants: list[Contestant] = []

    def marker_path(self, contestant: Contestant) -> Path:
        return self.root / "markers" / f"{contestant.workload_key}-{contestant.tool_name}"

    def output_paths(self, contestant: Contestant) -> tuple[Path, Path]:
        stem = f"{contestant.workload_key}-{contestant.tool_name}".replace(" ", "_")
        logs = self.root / "logs"
        return logs / f"{stem}.stdout", logs / f"{stem}.stderr"

    def prepare(self, group_name: str, workload_keys: list[str]) -> list[Contestant]:
        group: list[Contestant] = []
        for key in workload_keys:
            workload = self.workloads[key]
            for tool in self.tools.values():
                if group_name not in REFERENCE_ONLY_IN.get(tool.name, {group_name}):
                    continue
                if workload.uses_actions and not tool.runs_actions:
                    continue
                directory = self.root / "projects" / key / tool.name.replace(" ", "_")
                contestant = Contestant(key, workload.title, tool.name, directory)
                missing = tool.missing_reason_for(workload)
                if missing:
                    contestant.skipped_reason = f"not run: {missing}"
                else:
                    marked = workload.with_marker(self.marker_path(contestant))
                    prepare_project(tool, marked, directory)
                group.append(contestant)
                self.contestants.append(contestant)
        return group

    def run_once(self, contestant: Contestant, record: bool, check_marker: bool = True) -> None:
        tool = self.tools[contestant.tool_name]
        workload = self.workloads[contestant.workload_key]
        marker = self.marker_path(contestant)
        marker.unlink(missing_ok=True)
        if workload.clean_between_runs:
            subprocess.run(["git", "clean", "-ffdxq"], cwd=contestant.directory, check=True)
        stdout_path, stderr_path = self.output_paths(contestant)
        sample = run_measured(
            tool.command_for_workload(workload), contestant.directory,
            {**self.env, **tool.extra_env}, stdout_path, stderr_path, self.timeout_seconds,
        )
        if sample.ok and tool.runs_workload and check_marker and not marker.exists():
            sample = type(sample)(
                sample.seconds, sample.peak_rss_bytes, sample.exit_code,
                error="exited 0 but the workload's last step never ran (no marker file)",
            )
        output_bytes = stdout_path.stat().st_size if stdout_path.exists() else 0
        if not sample.ok and not contestant.failure_detail:
            contestant.failure_detail = self._describe_failure(sample.error, stdout_path,
                                                               stderr_path)
        if record:
            contestant.samples.append(sample)
            contestant.output_bytes.append(output_bytes)
        # Large outputs would fill the disk over many repetitions.
        stdout_path.unlink(missing_ok=True)

    @staticmethod
    def _describe_failure(error: str, stdout_path: Path, stderr_path: Path) -> str:
        parts = [error]
        for label, path in (("stderr", stderr_path), ("stdout", stdout_path)):
            try:
                with path.open("rb") as stream:
                    stream.seek(max(0, path.stat().st_size - STDERR_TAIL_CHARS))
                    tail = stream.read().decode("utf-8", "replace").strip()
            except OSError:
                tail = ""
            if tail:
                parts.append(f"--- {label} (tail) ---\n{tail}")
        return "\n".join(parts)

    def _over_budget(self, contestant: Contestant, repetitions: int) -> bool:
        """A peer taking minutes per run (gitlab-ci-local on (c)) stops after a few runs,
        so the whole benchmark stays within minutes; the report says so."""
        spent = sum(sample.seconds for sample in contestant.samples)
        if len(contestant.samples) < MINIMUM_RUNS or spent < self.budget_seconds:
            return False
        contestant.budget_note = (
            f"stopped after {len(contestant.samples)} of {repetitions} runs "
            f"(time budget {self.budget_seconds:.0f} s)"
        )
        return True

    def run_group(self, group_name: str, workload_keys: list[str], repetitions: int) -> None:
        group = [c for c in self.prepare(group_name, workload_keys) if not c.skipped_reason]
        for contestant in group:
            for _ in range(self.workloads[contestant.workload_key].priming_runs):
                self.run_once(contestant, record=False, check_marker=False)
        # One unrecorded warm-up each: fills caches, and a tool that fails it is not
        # worth repeating (its failure is reported once, with its stderr).
        for contestant in group:
            self.run_once(contestant, record=False)
            if contestant.failure_detail:
                contestant.skipped_reason = "failed its warm-up run; see Failures"
                print(f"bench: {contestant.tool_name} failed on {contestant.workload_key}: "
                      f"{contestant.failure_detail.splitlines()[0]}", file=sys.stderr)
        runnable = [c for c in group if not c.skipped_reason]
        for repetition in range(repetitions):
            # Rotate the order so no tool always runs right after the same neighbour.
            shift = repetition % len(runnable) if runnable else 0
            for contestant in runnable[shift:] + runnable[:shift]:
                if self._over_budget(contestant, repetitions):
                    continue
                self.run_once(contestant, record=True)
            print(f"bench: group {group_name}: repetition {repetition + 1}/{repetitions} done",
                  file=sys.stderr)


def _version_commands(tools: dict[str, Tool]) -> dict[str, list[str]]:
    commands = {}
    for name, tool in tools.items():
        if name in {"act", "gitlab-ci-local"} and not tool.missing_reason():
            commands[name] = [tool.command[0], "--version"]
    commands["bash"] = ["bash", "--version"]
    return commands


def run_benchmark(arguments: argparse.Namespace) -> int:
    tools = _selected_tools(arguments.tools)
    workloads = all_workloads(arguments.output_mb)
    group_names = [name.strip() for name in arguments.groups.split(",") if name.strip()]
    known_groups = dict(GROUPS)
    unknown = [name for name in group_names if name not in known_groups]
    if unknown:
        raise SystemExit(f"bench: unknown group(s) {', '.join(unknown)}; "
                         f"known: {', '.join(known_groups)}")
    if not arguments.no_setup:
        _setup_peers()
        # Now installed, a peer's missing_reason() must be asked again.
        tools = _selected_tools(arguments.tools)
    plan = QUICK_REPETITIONS if arguments.quick else FULL_REPETITIONS
    machine = describe_machine()
    versions = describe_versions(_version_commands(tools), REPO_DIR)
    root = Path(tempfile.mkdtemp(prefix="conveyor-bench-"))
    (root / "markers").mkdir()
    (root / "logs").mkdir()
    started = time.monotonic()
    bench = Bench(tools, workloads, root, arguments.timeout, arguments.budget)
    try:
        for group_name, keys in GROUPS:
            if group_name in group_names:
                repetitions = arguments.repetitions or plan[group_name]
                bench.run_group(group_name, keys, repetitions)
    finally:
        if arguments.keep:
            print(f"bench: projects kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    settings = {
        "mode": "quick" if arguments.quick else "full",
        "repetitions": ", ".join(
            f"{name}={arguments.repetitions or plan[name]}" for name in group_names
        ),
        "load average at end": " ".join(f"{value:.2f}" for value in os.getloadavg()),
        "benchmark wall time": f"{time.monotonic() - started:.0f} s",
        "command": "`.venv/bin/python bench/run.py" + (" --quick`" if arguments.quick else "`"),
    }
    titles = {key: workloads[key].title for name, keys in GROUPS if name in group_names
              for key in keys}
    markdown = render_report(Results(bench.contestants), machine, versions, titles, settings)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(markdown)
    print(markdown)
    print(f"bench: written to {arguments.output}", file=sys.stderr)
    return 0


def _compile_conveyor() -> None:
    """Bytecode for every module, as an installed package has it: in a checkout where
    PYTHONDONTWRITEBYTECODE is set (this machine's shells set it), each edited module
    would be compiled again on every measured run (job_runner.py alone: ~5 ms)."""
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "src"), quiet=1)


def main(argv: list[str] | None = None) -> int:
    arguments = _parse_arguments(argv)
    _compile_conveyor()
    if arguments.import_time:
        markdown = import_time_report()
        RESULTS_DIR.mkdir(exist_ok=True)
        (RESULTS_DIR / "importtime.md").write_text(markdown)
        print(markdown)
        return 0
    if arguments.profile:
        workloads = all_workloads(arguments.output_mb)
        if arguments.profile not in workloads:
            raise SystemExit(f"bench: unknown workload {arguments.profile!r}; "
                             f"known: {', '.join(workloads)}")
        text = profile_report(workloads[arguments.profile], all_tools()["conveyor"])
        RESULTS_DIR.mkdir(exist_ok=True)
        (RESULTS_DIR / f"profile-{arguments.profile}.txt").write_text(text)
        print(text)
        return 0
    return run_benchmark(arguments)


if __name__ == "__main__":
    sys.exit(main())
