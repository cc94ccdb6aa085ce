"""The work every tool is asked to do, described once and rendered per tool.

A workload is a graph of jobs, each a list of shell commands (steps). Every tool
gets the same commands; only the file format differs. The last step of the last
job also writes a marker file, so a tool that exits 0 without doing the work is
caught instead of looking fast.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

SEED_STEPS = (
    ("Build", 'echo "Building..."'),
    ("Test", 'echo "Testing..."'),
    ("Deploy", 'echo "Deploying to server..."'),
)


# The actions (owner/name, ref) the actions workload uses. act runs their real code
# (bench/setup_peers.sh makes local copies from snapshots); conveyor has them built in.
ACTION_REFS = (("actions/checkout", "v4"), ("actions/setup-python", "v5"), ("actions/cache", "v4"))
ACTIONS_PYTHON_SERIES = "3.11"
ACTIONS_CACHE_FILES = 300


@dataclass(frozen=True)
class Step:
    name: str
    command: str = ""
    # A `uses:` step instead of a `run:` one (only GitHub-syntax tools run these).
    uses: str = ""
    inputs: tuple[tuple[str, str], ...] = ()
    step_id: str = ""


@dataclass(frozen=True)
class Job:
    job_id: str
    steps: tuple[Step, ...]
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    jobs: tuple[Job, ...]
    # Bytes the workload prints to stdout; used to sanity-check large-output runs.
    expected_output_bytes: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    # A shell condition the marker is written under: a run that does not meet it
    # (e.g. a cache miss where the workload measures a hit) counts as a failure.
    marker_condition: str = ""
    # Unrecorded runs before the warm-up whose marker is not checked: they fill what
    # "warm" needs (the actions cache entry), which the first run of all cannot find.
    priming_runs: int = 0
    # Remove untracked files from the project before each run (`git clean`): tools that
    # run in place would otherwise find the last run's outputs in the workspace.
    clean_between_runs: bool = False

    @property
    def is_single_job(self) -> bool:
        return len(self.jobs) == 1

    @property
    def uses_actions(self) -> bool:
        return any(step.uses for job in self.jobs for step in job.steps)

    def with_marker(self, marker: Path) -> Workload:
        """The same workload whose final step also writes `marker`."""
        *earlier_jobs, last_job = self.jobs
        *earlier_steps, last_step = last_job.steps
        if last_step.uses:
            raise ValueError(f"workload {self.key}: the last step must be a run: step")
        write = f"echo done > {shlex.quote(str(marker))}"
        if self.marker_condition:
            write = f"if {self.marker_condition}; then {write}; fi"
        marked_step = replace(last_step, command=f"{last_step.command}\n{write}")
        marked_job = Job(last_job.job_id, (*earlier_steps, marked_step), last_job.needs)
        return replace(self, jobs=(*earlier_jobs, marked_job))


def seq_bytes(last: int) -> int:
    """Size of `seq 1 last` output, computed digit-width by digit-width."""
    total = 0
    width = 1
    low = 1
    while low <= last:
        high = min(last, 10**width - 1)
        total += (high - low + 1) * (width + 1)
        low = high + 1
        width += 1
    return total


def seq_last_for_bytes(target_bytes: int) -> int:
    """Smallest N such that `seq 1 N` prints at least `target_bytes`."""
    low, high = 1, target_bytes
    while low < high:
        middle = (low + high) // 2
        if seq_bytes(middle) >= target_bytes:
            high = middle
        else:
            low = middle + 1
    return low


def seed_workload() -> Workload:
    steps = tuple(Step(name, command) for name, command in SEED_STEPS)
    return Workload("a", "(a) seed: three echo steps", (Job("pipeline", steps),))


def trivial_steps_workload(count: int) -> Workload:
    steps = tuple(Step(f"step {index}", "true") for index in range(1, count + 1))
    return Workload(f"b{count}", f"(b) one job of {count} `true` steps", (Job("pipeline", steps),))


def big_output_workload(megabytes: int) -> Workload:
    last = seq_last_for_bytes(megabytes * 1_000_000)
    step = Step("print", f"seq 1 {last}")
    return Workload(
        "c",
        f"(c) one step printing {megabytes} MB of lines (`seq 1 {last}`)",
        (Job("pipeline", (step,)),),
        expected_output_bytes=seq_bytes(last),
    )


def diamond_workload() -> Workload:
    def job(job_id: str, needs: tuple[str, ...] = ()) -> Job:
        return Job(job_id, (Step(f"{job_id} step", "true"),), needs)

    jobs = (job("a"), job("b", ("a",)), job("c", ("a",)), job("d", ("b", "c")))
    return Workload("d", "(d) diamond: a; b and c need a; d needs b and c", jobs)


def actions_workload() -> Workload:
    """Issue 11's case: checkout, setup-python, a cache restore and three run steps, warm.

    Warm means the cache entry exists (a priming run saved it), the interpreter is on
    the machine and the actions' code is local; each run starts from a clean workspace.
    The last step checks the restored files and writes the marker only on a cache hit.
    """
    refs = dict(ACTION_REFS)
    # Incompressible, like the wheels of a pip cache: ~6 MiB in 300 files of growing size.
    fill = (
        "test -d .bench-cache || python -c \"import os; os.mkdir('.bench-cache'); "
        f"[open(f'.bench-cache/f{{i}}.bin', 'wb').write(os.urandom(i * 140)) "
        f"for i in range({ACTIONS_CACHE_FILES})]\""
    )
    steps = (
        Step("checkout", uses=f"actions/checkout@{refs['actions/checkout']}"),
        Step("setup-python", uses=f"actions/setup-python@{refs['actions/setup-python']}",
             inputs=(("python-version", ACTIONS_PYTHON_SERIES),)),
        Step("cache", uses=f"actions/cache@{refs['actions/cache']}", step_id="cache",
             inputs=(("path", ".bench-cache"), ("key", "bench-e-${{ runner.os }}-v2"))),
        Step("python version",
             "python -c 'import sys; assert sys.version_info[:2] == "
             f"({ACTIONS_PYTHON_SERIES.replace('.', ', ')}), sys.version; print(sys.version)'"),
        Step("fill the cache directory on a miss", fill),
        Step("use the restored files",
             f'test "$(ls .bench-cache | wc -l)" = {ACTIONS_CACHE_FILES}\n'
             'echo "cache-hit=${{ steps.cache.outputs.cache-hit }}"'),
    )
    return Workload(
        "e", "(e) checkout + setup-python + cache restore + 3 run steps, warm",
        (Job("build", steps),),
        marker_condition='[ "${{ steps.cache.outputs.cache-hit }}" = true ]',
        priming_runs=1,
        clean_between_runs=True,
    )


class _LiteralDumper(yaml.SafeDumper):
    """Writes multi-line strings as `|` blocks, the way people write `run:` scripts."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_LiteralDumper.add_representer(str, _represent_str)


def _dump(document: dict) -> str:
    return yaml.dump(document, Dumper=_LiteralDumper, sort_keys=False, width=1000)


def _github_step(step: Step) -> dict:
    if not step.uses:
        return {"name": step.name, "run": step.command}
    body: dict = {"name": step.name}
    if step.step_id:
        body["id"] = step.step_id
    body["uses"] = step.uses
    if step.inputs:
        body["with"] = dict(step.inputs)
    return body


def _github_steps(job: Job) -> list[dict]:
    return [_github_step(step) for step in job.steps]


def _refuse_actions(workload: Workload, form: str) -> None:
    if workload.uses_actions:
        raise ValueError(f"workload {workload.key} uses actions, which {form} cannot run")


def render_github_workflow(workload: Workload) -> str:
    """A `push` workflow in GitHub Actions syntax (what act runs)."""
    jobs: dict[str, dict] = {}
    for job in workload.jobs:
        body: dict = {}
        if job.needs:
            body["needs"] = list(job.needs)
        body["runs-on"] = "ubuntu-latest"
        body["steps"] = _github_steps(job)
        jobs[job.job_id] = body
    # "on" unquoted, as users write it (PyYAML would quote it as a YAML 1.1 boolean).
    return "on: push\n" + _dump({"jobs": jobs})


def render_conveyor_file(workload: Workload) -> str:
    """`.conveyor.yml`: the seed's bare `steps:` form for one job, else a full workflow."""
    if workload.is_single_job:
        return _dump({"steps": _github_steps(workload.jobs[0])})
    return render_github_workflow(workload)


def render_gitlab_ci(workload: Workload) -> str:
    """`.gitlab-ci.yml`: one GitLab job per job, one script line per step."""
    _refuse_actions(workload, "GitLab CI")
    document: dict[str, dict] = {}
    for job in workload.jobs:
        body: dict = {}
        if job.needs:
            body["needs"] = list(job.needs)
        body["script"] = [step.command for step in job.steps]
        document[job.job_id] = body
    return _dump(document)


def _step_file(job: Job, index: int) -> str:
    return f"steps/{job.job_id}-{index:03d}.sh"


def render_bash_script(workload: Workload) -> str:
    """The floor: the same commands in one bash process, independent jobs in parallel."""
    _refuse_actions(workload, "bash")
    bodies = {
        job.job_id: [line for step in job.steps for line in step.command.splitlines()]
        for job in workload.jobs
    }
    return _bash_job_graph(workload, bodies)


def render_bash_prefixed_script(workload: Workload) -> str:
    """bash writing what conveyor writes: every output line of a job behind ``[job] | ``.

    The plain bash row writes the bare output; conveyor and act prefix each line, so on
    (c) they write 133 MB where bash writes 48 MB. This row does the same work as they do
    (GNU ``sed``, the usual tool for it), to compare like with like.
    """
    bodies = {
        job.job_id: [
            "{",
            *(f"  {line}" for step in job.steps for line in step.command.splitlines()),
            f"}} | sed 's/^/[{job.job_id}] | /'",
        ]
        for job in workload.jobs
    }
    return "set -o pipefail\n" + _bash_job_graph(workload, bodies)


def render_bash_process_per_step(workload: Workload) -> dict[str, str]:
    """The floor for a runner: each step its own `bash -e FILE` process, as GitHub runs them."""
    _refuse_actions(workload, "bash")
    files = {
        _step_file(job, index): step.command + "\n"
        for job in workload.jobs for index, step in enumerate(job.steps, start=1)
    }
    bodies = {
        job.job_id: [f"bash -e {_step_file(job, index)}" for index in range(1, len(job.steps) + 1)]
        for job in workload.jobs
    }
    files["run.sh"] = _bash_job_graph(workload, bodies)
    return files


def _bash_job_graph(workload: Workload, bodies: dict[str, list[str]]) -> str:
    lines = ["set -e"]
    for job in workload.jobs:
        lines.append(f"job_{job.job_id}() {{")
        lines.extend(f"  {line}" for line in bodies[job.job_id])
        lines.append("}")
    done: set[str] = set()
    remaining = list(workload.jobs)
    while remaining:
        ready = [job for job in remaining if set(job.needs) <= done]
        if not ready:
            raise ValueError(f"workload {workload.key}: the needs graph has a cycle")
        if len(ready) == 1:
            lines.append(f"job_{ready[0].job_id}")
        else:
            lines.append("pids=()")
            lines.extend(f"job_{job.job_id} & pids+=($!)" for job in ready)
            # Bare `wait` would hide a failing job: wait for each pid to get its status.
            lines.append('for pid in "${pids[@]}"; do wait "$pid"; done')
        done.update(job.job_id for job in ready)
        remaining = [job for job in remaining if job.job_id not in done]
    return "\n".join(lines) + "\n"


def all_workloads(output_megabytes: int) -> dict[str, Workload]:
    workloads = [
        seed_workload(),
        trivial_steps_workload(10),
        trivial_steps_workload(100),
        big_output_workload(output_megabytes),
        diamond_workload(),
        actions_workload(),
    ]
    return {workload.key: workload for workload in workloads}
