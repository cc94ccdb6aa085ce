"""The seed's pipeline, verbatim, on a real Django project made by django-admin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, run_conveyor

pytestmark = pytest.mark.slow


def make_django_project(target: Path, failing_test: bool = False) -> Path:
    argv = [sys.executable, str(ROOT / "scripts" / "django_demo.py"), str(target)]
    subprocess.run(
        argv + (["--failing-test"] if failing_test else []), check=True, capture_output=True
    )
    return target


def test_the_seed_pipeline_builds_tests_and_deploys(tmp_path: Path) -> None:
    project = make_django_project(tmp_path / "shop")
    assert "python manage.py collectstatic --noinput" in (project / ".conveyor.yml").read_text()

    result = run_conveyor("run", cwd=project)

    assert result.returncode == 0, result.stdout + result.stderr
    # Build really collected the app's static file.
    collected = project / "staticfiles" / "catalog" / "style.css"
    assert collected.read_text() == "h1 { color: #0a7; }\n"
    # Test really ran the app's two tests (Django reports on stderr, merged into the log).
    assert "Ran 2 tests" in result.stdout
    assert "[pipeline] | Deploying to server..." in result.stdout
    table = result.stdout[result.stdout.index("Execution table") :]
    assert "Build Stage" in table and "Test Stage" in table and "Deploy Stage" in table
    assert "Proceed to Test Stage" in table and "Proceed to Deploy Stage" in table
    assert "Pipeline Complete" in table
    tracker_row = next(line for line in table.splitlines() if line.startswith("pipeline_status "))
    assert tracker_row.split()[1:] == [
        "Not",
        "started",
        "Build",
        "successful",
        "Tests",
        "passed",
        "Deployed",
    ]
    assert result.stdout.rstrip().endswith("pipeline_status: Deployed")


def test_a_failing_test_stops_the_pipeline_before_deploy(tmp_path: Path) -> None:
    project = make_django_project(tmp_path / "shop", failing_test=True)

    result = run_conveyor("run", "--json", cwd=project)

    assert result.returncode == 1, result.stdout + result.stderr
    events = result.events()
    finished = {e["step"]: e for e in events if e["type"] == "step_finished"}
    assert [finished[i]["status"] for i in range(3)] == ["success", "failure", "skipped"]
    assert not any(e["type"] == "step_started" and e["step"] == 2 for e in events)
    # Deploy's command never ran: no log line came from it.
    assert result.log_lines(step=2) == []
    assert any("a price must be positive" in line for line in result.log_lines(step=1))
    pipeline = next(e for e in events if e["type"] == "pipeline")
    assert pipeline["pipeline_status"] == "Test failed"
    assert [c["pipeline_status"] for c in pipeline["tracker"]] == [
        "Not started",
        "Build successful",
        "Test failed",
        "Test failed",
    ]
    rows = pipeline["table"]
    assert rows[1]["result"].startswith("Failed")
    assert rows[1]["next_step"] == "Pipeline stopped"
    assert rows[2]["result"] == "Skipped"
    assert (project / "staticfiles" / "catalog" / "style.css").exists()
