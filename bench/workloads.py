"""The work every tool is asked to do, described once and rendered per tool.

A workload is a graph of jobs, each a list of shell commands (steps). Every tool
gets the same commands; only the file format differs. The last step of the last
job also writes a marker file, so a tool that exits 0 without doing the work is
caught instead of looking fast.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SEED_STEPS = (
    ("Build", 'echo "Building..."'),
    ("Test", 'echo "Testing..."'),
    ("Deploy", 'echo "Deploying to server..."'),
)


@dataclass(frozen=True)
class Step:
    name: str
    command: str


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

    @property
    def is_single_job(self) -> bool:
        return len(self.jobs) == 1

    def with_marker(self, marker: Path) -> Workload:
        """The same workload whose final step also writes `marker`."""
        *earlier_jobs, last_job = self.jobs
        *earlier_steps, last_step = last_job.steps
        marked_step = Step(
            last_step.name, f"{last_step.command}\necho done > {shlex.quote(str(marker))}"
        )
        marked_job = Job(last_job.job_id, (*earlier_steps, marked_step), last_job.needs)
        return Workload(
            self.key, self.title, (*earlier_jobs, marked_job), self.expected_output_bytes,
            self.notes,
        )


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


class _LiteralDumper(yaml.SafeDumper):
    """Writes multi-line strings as `|` blocks, the way people write `run:` scripts."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_LiteralDumper.add_representer(str, _represent_str)


def _dump(document: dict) -> str:
    return yaml.dump(document, Dumper=_LiteralDumper, sort_keys=False, width=1000)


def _github_steps(job: Job) -> list[dict]:
    return [{"name": step.name, "run": step.command} for step in job.steps]


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
    ]
    return {workload.key: workload for workload in workloads}
