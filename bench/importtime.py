"""What `import conveyor.cli` costs, from `python -X importtime` (the CLI must start fast).

Modules the bare interpreter imports anyway (`-c pass`) are left out, so what is
shown is what conveyor itself adds. Each figure is the median over several runs.
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from peers import VENV_BIN

RUNS = 7
TOP_ROWS = 20
# Packages the design keeps out of `conveyor run`'s start-up, and why.
UNWANTED_AT_STARTUP = {
    "django": "the CLI must never import Django (DESIGN.md)",
    "rich": "rich is for terminals only and should be imported lazily (DESIGN.md)",
}


@dataclass(frozen=True)
class ModuleTime:
    name: str
    depth: int
    self_us: float
    cumulative_us: float


def _python() -> str:
    candidate = VENV_BIN / "python"
    return str(candidate) if candidate.exists() else sys.executable


def _parse(stderr: str) -> dict[str, ModuleTime]:
    modules: dict[str, ModuleTime] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        fields = line[len("import time:"):].split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue  # the header line
        raw_name = fields[2].rstrip()
        name = raw_name.strip()
        depth = (len(raw_name) - len(raw_name.lstrip(" ")) - 1) // 2
        modules[name] = ModuleTime(name, depth, float(fields[0]), float(fields[1]))
    return modules


def _import_times(arguments: list[str], cwd: Path | None = None) -> dict[str, ModuleTime]:
    completed = subprocess.run(
        [_python(), "-X", "importtime", *arguments], cwd=cwd, capture_output=True, text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(
            f"bench: `python {' '.join(arguments)}` failed:\n{completed.stderr[-2000:]}"
        )
    return _parse(completed.stderr)


def _wall_seconds(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([_python(), "-c", code], check=True, capture_output=True)
    return time.perf_counter() - started


def _median_over_runs(runs: list[dict[str, ModuleTime]], baseline: set[str]) -> list[ModuleTime]:
    names = [name for name in runs[0] if name not in baseline]
    merged = []
    for name in names:
        present = [run[name] for run in runs if name in run]
        merged.append(ModuleTime(
            name, present[0].depth,
            statistics.median(module.self_us for module in present),
            statistics.median(module.cumulative_us for module in present),
        ))
    return merged


def _top_level_packages(modules: list[ModuleTime]) -> list[str]:
    roots = {module.name.split(".")[0] for module in modules}
    # Private roots are the interpreter's own (_sysconfigdata...); a root that can't be
    # found is a failed probe (copy.py tries Jython's `org`), not something imported.
    return sorted(
        root for root in roots
        if root not in sys.stdlib_module_names and not root.startswith("_")
        and importlib.util.find_spec(root) is not None
    )


def _module_table(modules: list[ModuleTime]) -> list[str]:
    lines = [f"Top {TOP_ROWS} by cumulative time:", "",
             "| module | cumulative | self |", "|---|---|---|"]
    for entry in sorted(modules, key=lambda m: m.cumulative_us, reverse=True)[:TOP_ROWS]:
        indent = "·" * entry.depth
        lines.append(f"| {indent}{entry.name} | {entry.cumulative_us / 1000:.2f} ms "
                     f"| {entry.self_us / 1000:.2f} ms |")
    lines += ["", f"Top {TOP_ROWS} by self time:", "", "| module | self |", "|---|---|"]
    for entry in sorted(modules, key=lambda m: m.self_us, reverse=True)[:TOP_ROWS]:
        lines.append(f"| {entry.name} | {entry.self_us / 1000:.2f} ms |")
    return lines


def _summary_lines(modules: list[ModuleTime]) -> list[str]:
    total_us = sum(module.self_us for module in modules)
    packages = _top_level_packages(modules)
    lines = [
        f"- modules added beyond the bare interpreter: {len(modules)}, "
        f"their import time summed: {total_us / 1000:.1f} ms (`-X importtime` self times)",
        f"- non-stdlib top-level packages imported: {', '.join(packages) or 'none'}",
    ]
    for package, reason in UNWANTED_AT_STARTUP.items():
        if package in packages:
            lines.append(f"- **{package} is imported**: {reason}")
    return lines


def _seed_project(root: Path) -> Path:
    from peers import all_tools, prepare_project
    from workloads import seed_workload

    project = root / "project"
    prepare_project(all_tools()["conveyor"], seed_workload(), project)
    return project


def import_time_report(module: str = "conveyor.cli") -> str:
    """Two views: importing the CLI module, and everything a real `conveyor run` imports."""
    code = f"import {module}"
    run_arguments = ["-m", "conveyor", "run", "--workflow", ".conveyor.yml"]
    baseline_runs, module_runs, run_runs = [], [], []
    pass_walls, import_walls = [], []
    with tempfile.TemporaryDirectory(prefix="conveyor-importtime-") as temporary:
        project = _seed_project(Path(temporary))
        # A first run, not measured, as a developer's first run of a project: it fills
        # the parsed-workflow cache, so what is measured is the usual run.
        subprocess.run([_python(), *run_arguments], cwd=project, capture_output=True, check=False)
        for _ in range(RUNS):
            # Interleaved, like the main benchmark.
            baseline_runs.append(_import_times(["-c", "pass"]))
            module_runs.append(_import_times(["-c", code]))
            run_runs.append(_import_times(run_arguments, cwd=project))
            pass_walls.append(_wall_seconds("pass"))
            import_walls.append(_wall_seconds(code))
    baseline = set().union(*baseline_runs)
    wall_pass = statistics.median(pass_walls)
    wall_import = statistics.median(import_walls)

    lines = [f"# Import time of `{module}` and of `conveyor run`", ""]
    lines.append(
        f"`python -c pass`: {wall_pass * 1000:.1f} ms wall; "
        f"`python -c '{code}'`: {wall_import * 1000:.1f} ms wall "
        f"(+{(wall_import - wall_pass) * 1000:.1f} ms); medians of {RUNS} runs."
    )
    module_modules = _median_over_runs(module_runs, baseline)
    lines += ["", f"## `{code}`", "", *_summary_lines(module_modules), "",
              *_module_table(module_modules)]
    run_modules = _median_over_runs(run_runs, baseline)
    lines += ["", "## `conveyor run` on the seed workload (every import a run makes)", "",
              *_summary_lines(run_modules), "", *_module_table(run_modules)]
    lines += ["", f"Python: {Path(_python())}"]
    return "\n".join(lines) + "\n"
