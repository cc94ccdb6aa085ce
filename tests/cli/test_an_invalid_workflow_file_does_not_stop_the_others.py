"""One invalid file in .github/workflows: the others still run; its problems are
reported (file:line:column, on stderr) and the exit code is 2 at the end, as GitHub
treats each file alone."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_conveyor

GOOD = """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "good workflow ran"
"""

FAILING = """\
on: push
jobs:
  broken:
    runs-on: ubuntu-latest
    steps:
      - run: exit 1
"""

# A misspelt job key: line 4, column 5.
UNSUPPORTED = """\
on: push
jobs:
  db:
    servicess:
      postgres:
        image: postgres
    runs-on: ubuntu-latest
    steps:
      - run: echo "never"
"""


def workflows(repo: Path, **files: str) -> None:
    directory = repo / ".github" / "workflows"
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / f"{name}.yml").write_text(text)


def test_run_runs_the_valid_files_and_exits_2_naming_the_invalid_one(repo: Path) -> None:
    workflows(repo, good=GOOD, unsupported=UNSUPPORTED)
    result = run_conveyor("run", "--color", "never", cwd=repo)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "[build] | good workflow ran" in result.stdout
    assert ".github/workflows/unsupported.yml:4:5:" in result.stderr
    assert "never" not in result.stdout
    assert "Traceback" not in result.stderr


def test_a_failing_pipeline_with_an_invalid_file_still_exits_2(repo: Path) -> None:
    workflows(repo, failing=FAILING, unsupported=UNSUPPORTED)
    result = run_conveyor("run", "--color", "never", cwd=repo)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "broken" in result.stdout
    assert ".github/workflows/unsupported.yml:4:5:" in result.stderr


def test_list_shows_the_valid_files_and_exits_2(repo: Path) -> None:
    workflows(repo, good=GOOD, unsupported=UNSUPPORTED)
    result = run_conveyor("list", cwd=repo)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "job build" in result.stdout
    assert ".github/workflows/unsupported.yml:4:5:" in result.stderr


def test_validate_reports_each_file_alone(repo: Path) -> None:
    workflows(repo, good=GOOD, unsupported=UNSUPPORTED)
    result = run_conveyor("validate", cwd=repo)
    assert result.returncode == 2
    assert ".github/workflows/good.yml: valid" in result.stdout
    assert ".github/workflows/unsupported.yml:4:5:" in result.stderr


def test_workflow_and_job_check_only_what_they_select(repo: Path) -> None:
    workflows(repo, good=GOOD, unsupported=UNSUPPORTED)
    good = str(Path(".github/workflows/good.yml"))
    for command in (("run", "--workflow", good), ("list", "--workflow", good)):
        result = run_conveyor(*command, cwd=repo)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "unsupported.yml" not in result.stderr
    by_job = run_conveyor("run", "--color", "never", "--job", "build", cwd=repo)
    assert by_job.returncode == 0, by_job.stdout + by_job.stderr
    assert "[build] | good workflow ran" in by_job.stdout
    assert "unsupported.yml" not in by_job.stderr


def test_a_job_only_in_the_invalid_file_says_why_it_is_missing(repo: Path) -> None:
    workflows(repo, good=GOOD, unsupported=UNSUPPORTED)
    result = run_conveyor("run", "--job", "db", cwd=repo)
    assert result.returncode == 2
    assert ".github/workflows/unsupported.yml:4:5:" in result.stderr
    assert "--job db: no such job" in result.stderr
