"""The workloads render to files the real tools accept, and do the same work in each."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from workloads import (
    Job,
    Step,
    Workload,
    all_workloads,
    render_bash_prefixed_script,
    render_bash_script,
    render_conveyor_file,
    render_github_workflow,
    render_gitlab_ci,
    seq_bytes,
    seq_last_for_bytes,
)


@pytest.mark.parametrize("last", [1, 9, 10, 99, 100, 12345, 1_000_001])
def test_seq_bytes_matches_real_seq(last: int) -> None:
    printed = subprocess.run(["seq", "1", str(last)], capture_output=True, check=True).stdout
    assert seq_bytes(last) == len(printed)


def test_seq_last_for_bytes_is_the_smallest_reaching_the_target() -> None:
    target = 50_000_000
    last = seq_last_for_bytes(target)
    assert seq_bytes(last) >= target > seq_bytes(last - 1)


def _recording_diamond(log: Path) -> Workload:
    def job(job_id: str, needs: tuple[str, ...] = ()) -> Job:
        return Job(job_id, (Step(job_id, f"echo {job_id} >> {log}"),), needs)

    return Workload("d", "diamond", (job("a"), job("b", ("a",)), job("c", ("a",)),
                                     job("d", ("b", "c"))))


def test_bash_script_runs_the_diamond_in_dependency_order(tmp_path: Path) -> None:
    log = tmp_path / "order"
    script = tmp_path / "run.sh"
    script.write_text(render_bash_script(_recording_diamond(log)))
    subprocess.run(["bash", str(script)], check=True)
    order = log.read_text().split()
    assert order[0] == "a" and order[-1] == "d"
    assert sorted(order[1:3]) == ["b", "c"]


def test_bash_script_fails_when_a_parallel_job_fails(tmp_path: Path) -> None:
    marker = tmp_path / "d-ran"
    workload = Workload("d", "diamond", (
        Job("a", (Step("a", "true"),)),
        Job("b", (Step("b", "exit 3"),), ("a",)),
        Job("c", (Step("c", "true"),), ("a",)),
        Job("d", (Step("d", f"touch {marker}"),), ("b", "c")),
    ))
    script = tmp_path / "run.sh"
    script.write_text(render_bash_script(workload))
    completed = subprocess.run(["bash", str(script)], check=False)
    assert completed.returncode != 0
    assert not marker.exists()


def test_prefixed_bash_writes_each_line_as_conveyor_shows_it(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    workload = all_workloads(1)["c"].with_marker(marker)
    script = tmp_path / "run.sh"
    script.write_text(render_bash_prefixed_script(workload))
    completed = subprocess.run(["bash", str(script)], check=True, capture_output=True)
    assert marker.read_text() == "done\n"
    expected = b"".join(b"[pipeline] | %d\n" % number
                        for number in range(1, seq_last_for_bytes(1_000_000) + 1))
    assert completed.stdout == expected


def test_prefixed_bash_fails_when_a_step_fails(tmp_path: Path) -> None:
    marker = tmp_path / "after"
    workload = Workload("c", "failing", (
        Job("pipeline", (Step("fail", "echo before; exit 3"), Step("after", f"touch {marker}"))),
    ))
    script = tmp_path / "run.sh"
    script.write_text(render_bash_prefixed_script(workload))
    completed = subprocess.run(["bash", str(script)], check=False, capture_output=True)
    assert completed.returncode != 0
    assert completed.stdout == b"[pipeline] | before\n"
    assert not marker.exists()


def test_marker_goes_on_the_last_step_of_the_last_job(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    marked = all_workloads(1)["d"].with_marker(marker)
    script = tmp_path / "run.sh"
    script.write_text(render_bash_script(marked))
    subprocess.run(["bash", str(script)], check=True)
    assert marker.read_text() == "done\n"
    assert str(marker) in marked.jobs[-1].steps[-1].command
    assert all(str(marker) not in step.command for job in marked.jobs[:-1] for step in job.steps)


def test_every_format_carries_the_same_commands() -> None:
    workload = all_workloads(1)["b10"]
    commands = [step.command for step in workload.jobs[0].steps]
    conveyor = yaml.safe_load(render_conveyor_file(workload))
    github = yaml.safe_load(render_github_workflow(workload))
    gitlab = yaml.safe_load(render_gitlab_ci(workload))
    assert [step["run"] for step in conveyor["steps"]] == commands
    assert [step["run"] for step in github["jobs"]["pipeline"]["steps"]] == commands
    assert gitlab["pipeline"]["script"] == commands
    # PyYAML reads the unquoted key as YAML 1.1's boolean, as GitHub's own parser does not.
    assert github[True] == "push"


def test_diamond_needs_survive_rendering() -> None:
    workload = all_workloads(1)["d"]
    github = yaml.safe_load(render_github_workflow(workload))["jobs"]
    gitlab = yaml.safe_load(render_gitlab_ci(workload))
    conveyor = yaml.safe_load(render_conveyor_file(workload))["jobs"]
    for document in (github, gitlab, conveyor):
        assert "needs" not in document["a"]
        assert document["b"]["needs"] == ["a"] and document["c"]["needs"] == ["a"]
        assert document["d"]["needs"] == ["b", "c"]


def test_the_actions_workload_renders_its_uses_steps_for_github_syntax_only() -> None:
    workload = all_workloads(1)["e"]
    steps = yaml.safe_load(render_github_workflow(workload))["jobs"]["build"]["steps"]
    assert [step.get("uses") for step in steps[:3]] == [
        "actions/checkout@v4", "actions/setup-python@v5", "actions/cache@v4"]
    assert steps[1]["with"] == {"python-version": "3.11"}
    assert steps[2]["id"] == "cache" and steps[2]["with"]["path"] == ".bench-cache"
    assert [step.get("run") is not None for step in steps[3:]] == [True, True, True]
    assert yaml.safe_load(render_conveyor_file(workload))["steps"] == steps
    for render in (render_bash_script, render_gitlab_ci):
        with pytest.raises(ValueError, match="uses actions"):
            render(workload)


def test_a_marker_condition_guards_the_marker(tmp_path: Path) -> None:
    def run(condition: str) -> bool:
        marker = tmp_path / f"marker-{len(condition)}"
        workload = Workload("x", "x", (Job("j", (Step("s", "true"),)),),
                            marker_condition=condition).with_marker(marker)
        script = tmp_path / "run.sh"
        script.write_text(render_bash_script(workload))
        subprocess.run(["bash", str(script)], check=True)
        return marker.exists()

    assert run("[ 1 = 1 ]") is True
    assert run("[ hit = miss ]") is False
