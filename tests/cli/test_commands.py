"""The command line's contracts: exit codes, discovery, messages, init, list, Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers import conveyor_env, git, run_conveyor

PUSH_WORKFLOW = """\
on:
  push:
    branches: [main]
jobs:
  hello:
    runs-on: ubuntu-latest
    steps:
      - run: echo "hello from push"
"""

PR_WORKFLOW = """\
on: pull_request
jobs:
  review:
    runs-on: ubuntu-latest
    steps:
      - run: echo "hello from pull_request"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_validate_accepts_a_good_file(repo: Path) -> None:
    write(repo / ".conveyor.yml", "steps:\n  - run: echo hi\n")
    result = run_conveyor("validate", cwd=repo)
    assert result.returncode == 0
    assert ".conveyor.yml: valid (1 job, 1 step)" in result.stdout


def test_an_invalid_workflow_exits_2_naming_file_line_and_column(repo: Path) -> None:
    write(repo / ".conveyor.yml", "steps:\n  - name: Build\n    runs: make\n")
    for command in ("run", "validate"):
        result = run_conveyor(command, cwd=repo)
        assert result.returncode == 2, result.stderr
        assert ".conveyor.yml:3:5:" in result.stderr
        assert "Traceback" not in result.stderr


def test_no_workflow_is_a_clear_error(repo: Path) -> None:
    result = run_conveyor("run", cwd=repo)
    assert result.returncode == 2
    assert "no workflow found" in result.stderr
    assert "conveyor init" in result.stderr


def test_github_workflows_run_only_when_on_accepts_the_event(repo: Path) -> None:
    write(repo / ".github/workflows/push.yml", PUSH_WORKFLOW)
    write(repo / ".github/workflows/pr.yml", PR_WORKFLOW)

    push = run_conveyor("run", cwd=repo)
    assert push.returncode == 0, push.stderr
    assert "[hello] | hello from push" in push.stdout
    assert "hello from pull_request" not in push.stdout

    pull = run_conveyor("run", "--event", "pull_request", cwd=repo)
    assert pull.returncode == 0, pull.stderr
    assert "[review] | hello from pull_request" in pull.stdout
    assert "hello from push" not in pull.stdout


def test_a_branch_filter_keeps_other_branches_from_running(repo: Path) -> None:
    write(repo / ".github/workflows/push.yml", PUSH_WORKFLOW)
    git("checkout", "-q", "-b", "feature", cwd=repo)
    result = run_conveyor("run", cwd=repo)
    assert result.returncode == 0
    assert "hello from push" not in result.stdout
    assert "no workflow runs on push" in result.stderr


def test_unknown_job_and_bad_event_payload_exit_2(repo: Path) -> None:
    write(repo / ".conveyor.yml", "steps:\n  - run: echo hi\n")
    result = run_conveyor("run", "--job", "nope", cwd=repo)
    assert result.returncode == 2
    assert "--job nope: no such job" in result.stderr
    write(repo / "event.json", "{not json")
    result = run_conveyor("run", "--eventpath", "event.json", cwd=repo)
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr


def test_job_selection_runs_the_job_and_what_it_needs(repo: Path) -> None:
    write(
        repo / ".conveyor.yml",
        "jobs:\n"
        "  a:\n    runs-on: linux\n    steps:\n      - run: echo job-a\n"
        "  b:\n    needs: a\n    runs-on: linux\n    steps:\n      - run: echo job-b\n"
        "  c:\n    runs-on: linux\n    steps:\n      - run: echo job-c\n",
    )
    result = run_conveyor("run", "--job", "b", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "[a] | job-a" in result.stdout and "[b] | job-b" in result.stdout
    assert "job-c" not in result.stdout


def test_list_shows_jobs_and_steps(repo: Path) -> None:
    write(repo / ".github/workflows/push.yml", PUSH_WORKFLOW)
    write(repo / ".github/workflows/pr.yml", PR_WORKFLOW)
    result = run_conveyor("list", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "job hello" in result.stdout
    assert '1. Run echo "hello from push"' in result.stdout
    assert ".github/workflows/pr.yml: not run on push" in result.stdout


def test_init_writes_a_django_pipeline_that_validates(tmp_path: Path) -> None:
    project = tmp_path / "site"
    project.mkdir()
    (project / "manage.py").write_text("# a Django project\n")
    result = run_conveyor("init", cwd=project)
    assert result.returncode == 0, result.stderr
    text = (project / ".conveyor.yml").read_text()
    for command in ("manage.py check", "manage.py test", "Deploy"):
        assert command in text
    # No settings to read: collectstatic is left out, and a comment says why.
    assert "# Build does not run `manage.py collectstatic`: no settings module" in text
    assert run_conveyor("validate", cwd=project).returncode == 0
    again = run_conveyor("init", cwd=project)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_init_fits_a_node_project(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"scripts": {"build": "tsc", "test": "jest"}}')
    assert run_conveyor("init", cwd=tmp_path).returncode == 0
    text = (tmp_path / ".conveyor.yml").read_text()
    assert "npm install" in text and "npm run build" in text and "npm test" in text
    assert run_conveyor("validate", cwd=tmp_path).returncode == 0


def test_clean_runs_in_a_fresh_checkout_of_head(repo: Path) -> None:
    write(repo / ".conveyor.yml", "steps:\n  - run: ls\n")
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "pipeline", cwd=repo)
    (repo / "uncommitted.txt").write_text("local only\n")

    in_place = run_conveyor("run", cwd=repo)
    clean = run_conveyor("run", "--clean", cwd=repo)

    assert "[pipeline] | uncommitted.txt" in in_place.stdout
    assert clean.returncode == 0, clean.stderr
    assert "[pipeline] | README" in clean.stdout
    assert "uncommitted.txt" not in clean.stdout


def test_ctrl_c_cancels_with_130_and_kills_the_step_tree(repo: Path) -> None:
    pid_file = repo / "child.pid"
    write(
        repo / ".conveyor.yml",
        "steps:\n"
        "  - name: Long\n"
        f"    run: |\n      sleep 300 &\n      echo $! > {pid_file}\n      wait\n"
        "  - name: Never\n    run: echo never\n",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "conveyor", "run"],
        cwd=repo,
        env=conveyor_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    assert psutil.pid_exists(child)

    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=20)

    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert "never" not in [line.rsplit("| ", 1)[-1] for line in stdout.splitlines()]
    deadline = time.monotonic() + 5
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the step's child survived Ctrl-C"
        time.sleep(0.05)


@pytest.mark.parametrize("flag", ["--json", None])
def test_output_is_plain_text_or_json_when_piped(repo: Path, flag: str | None) -> None:
    write(repo / ".conveyor.yml", "steps:\n  - name: Greet\n    run: printf 'one\\ntwo\\n'\n")
    result = run_conveyor("run", *([flag] if flag else []), cwd=repo)
    assert result.returncode == 0
    assert "\x1b[" not in result.stdout
    if flag:
        assert result.log_lines() == ["one", "two"]
    else:
        assert "[pipeline] | one\n[pipeline] | two\n" in result.stdout
        assert "[pipeline] OK Greet" in result.stdout


def test_the_cli_does_not_import_what_a_run_does_not_need() -> None:
    heavy = "{'rich', 'django', 'yaml', 'psutil', 'dotenv'}"
    code = (
        "import sys, conveyor.cli; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


DISPATCH_WORKFLOW = """\
on:
  workflow_dispatch:
    inputs:
      target:
        required: true
        type: choice
        options: [staging, production]
      dry-run:
        type: boolean
        default: true
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - run: echo "deploy to ${{ inputs.target }} dry=${{ inputs.dry-run }}"
"""


def test_workflow_dispatch_inputs_are_checked_then_given_to_the_run(repo: Path) -> None:
    write(repo / ".github/workflows/deploy.yml", DISPATCH_WORKFLOW)
    ran = run_conveyor(
        "run", "--event", "workflow_dispatch", "--input", "target=production", cwd=repo
    )
    assert ran.returncode == 0, ran.stderr
    assert "[deploy] | deploy to production dry=true" in ran.stdout

    missing = run_conveyor("run", "--event", "workflow_dispatch", cwd=repo)
    assert missing.returncode == 2 and "target" in missing.stderr
    wrong = run_conveyor("run", "-e", "workflow_dispatch", "-i", "target=moon", cwd=repo)
    assert wrong.returncode == 2 and "moon" in wrong.stderr
    assert "deploy to" not in missing.stdout + wrong.stdout
