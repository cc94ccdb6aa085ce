"""Scenario pairs: NAME.yml is a workflow, NAME.json what running it must give.

Each runs through the real CLI (`conveyor run --json`) in a fresh git repository.
The JSON names what matters: "exit_code", the run's "status", each job's "status",
"reason", step conclusions (in order) and "outputs"; "log_contains" (whole lines) and
"log_excludes" (fragments) check log lines, "output_excludes" everything printed;
"args" adds command-line arguments; "files" writes files first.
Only the keys given are checked, so a pair says exactly what it is about.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_conveyor

HERE = Path(__file__).parent
SCENARIOS = sorted(p.stem for p in HERE.glob("*.yml"))


def summarise(events: list[dict[str, Any]]) -> dict[str, Any]:
    run = next(e for e in events if e["type"] == "run_finished")
    jobs: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["type"] == "step_finished":
            steps = jobs.setdefault(event["job_key"], {}).setdefault("steps", {})
            steps[event["step"]] = event["status"]
        elif event["type"] == "job_finished":
            job = jobs.setdefault(event["job_key"], {})
            job["status"] = event["status"]
            job["outputs"] = event["outputs"]
            job["reason"] = event["reason"]
    for job in jobs.values():
        steps = job.get("steps", {})
        job["steps"] = [steps[i] for i in sorted(steps)]
    return {"status": run["status"], "jobs": jobs}


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario(name: str, repo: Path) -> None:
    expected = json.loads((HERE / f"{name}.json").read_text())
    shutil.copy(HERE / f"{name}.yml", repo / "workflow.yml")
    for relative, content in expected.get("files", {}).items():
        (repo / relative).parent.mkdir(parents=True, exist_ok=True)
        (repo / relative).write_text(content)

    result = run_conveyor(
        "run", "--json", "--workflow", "workflow.yml", *expected.get("args", []), cwd=repo
    )

    assert result.returncode == expected["exit_code"], result.stdout[-3000:] + result.stderr
    actual = summarise(result.events())
    if "status" in expected:
        assert actual["status"] == expected["status"]
    for job_key, want in expected.get("jobs", {}).items():
        assert job_key in actual["jobs"], f"no job {job_key!r}; ran {sorted(actual['jobs'])}"
        got = actual["jobs"][job_key]
        for key, value in want.items():
            assert got.get(key) == value, f"{job_key}.{key}: {got.get(key)!r} != {value!r}"
    if "job_keys" in expected:
        assert sorted(actual["jobs"]) == sorted(expected["job_keys"])
    lines = result.log_lines()
    for text in expected.get("log_contains", []):
        assert text in lines, f"no log line {text!r} in {lines[:50]}"
    for text in expected.get("log_excludes", []):
        assert not [line for line in lines if text in line], f"{text!r} appears in the log"
    everything = result.stdout + result.stderr
    for text in expected.get("output_excludes", []):
        assert text not in everything, f"{text!r} appears in the output"
