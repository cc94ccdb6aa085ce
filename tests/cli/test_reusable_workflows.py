"""Reusable workflows through the real `conveyor` command: the called jobs are shown as
`caller / job` in plain output, JSON events and the table; `--job caller` runs them;
`validate` checks the called local workflow and what the call passes."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_conveyor

CALLED = """\
name: Shared tests
on:
  workflow_call:
    inputs:
      python-version: {type: string, required: true}
      verbose: {type: boolean, default: false}
    secrets:
      token: {required: false}
    outputs:
      summary:
        value: ${{ jobs.unit.outputs.summary }}
jobs:
  unit:
    runs-on: ubuntu-latest
    outputs:
      summary: ${{ steps.t.outputs.summary }}
    steps:
      - id: t
        run: |
          echo "unit tests on ${{ inputs.python-version }} verbose=${{ inputs.verbose }}"
          echo "token is [${{ secrets.token }}]"
          echo "summary=12 passed" >> "$GITHUB_OUTPUT"
  docs:
    runs-on: ubuntu-latest
    steps:
      - run: echo "docs built"
"""

CALLER = """\
name: CI
on: push
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo "lint ok"
  tests:
    needs: lint
    uses: ./.github/workflows/shared-tests.yml
    with:
      python-version: "3.12"
      verbose: true
    secrets: inherit
  report:
    needs: tests
    runs-on: ubuntu-latest
    steps:
      - run: echo "report says ${{ needs.tests.outputs.summary }}"
"""


def write_workflows(repo: Path, caller: str = CALLER, called: str = CALLED) -> None:
    workflows = repo / ".github" / "workflows"
    workflows.mkdir(parents=True, exist_ok=True)
    (workflows / "ci.yml").write_text(caller)
    (workflows / "shared-tests.yml").write_text(called)


def test_plain_output_and_table_name_the_called_jobs_caller_slash_job(repo: Path) -> None:
    write_workflows(repo)
    result = run_conveyor("run", "--secret", "token=s3cr3t-value", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "[tests / unit] | unit tests on 3.12 verbose=true" in out
    assert "[tests / unit] | token is [***]" in out
    assert "[tests / docs] | docs built" in out
    assert "[report] | report says 12 passed" in out
    assert "s3cr3t-value" not in out
    # the table has the caller's row, with what it calls
    table_row = next(line for line in out.splitlines() if "uses: ./.github/workflows/" in line)
    assert "tests" in table_row and "Succeeded" in table_row
    # the reusable file itself does not run on push
    assert "[unit]" not in out


def test_json_events_carry_the_called_jobs_keys_and_their_callers_id(repo: Path) -> None:
    write_workflows(repo)
    result = run_conveyor("run", "--json", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    events = result.events()
    started = [(e["job_key"], e["job_id"], e["name"]) for e in events if e["type"] == "job_started"]
    assert sorted(started) == [
        ("lint", "lint", "lint"),
        ("report", "report", "report"),
        ("tests / docs", "tests", "tests / docs"),
        ("tests / unit", "tests", "tests / unit"),
    ]
    finished = {e["job_key"]: e for e in events if e["type"] == "job_finished"}
    assert finished["tests / unit"]["outputs"] == {"summary": "12 passed"}
    assert next(e for e in events if e["type"] == "run_started")["jobs"] == [
        "lint",
        "tests",
        "report",
    ]


def test_job_naming_the_caller_runs_the_called_jobs_and_what_the_caller_needs(
    repo: Path,
) -> None:
    write_workflows(repo)
    result = run_conveyor("run", "--job", "tests", "--json", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    keys = {e["job_key"] for e in result.events() if e["type"] == "job_finished"}
    assert keys == {"lint", "tests / unit", "tests / docs"}


def test_a_wrongly_typed_input_fails_the_caller_at_its_with(repo: Path) -> None:
    write_workflows(repo, caller=CALLER.replace("verbose: true", "verbose: maybe"))
    result = run_conveyor("run", cwd=repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        ".github/workflows/ci.yml:13:16: input 'verbose' of .github/workflows/shared-tests.yml "
        "is a boolean; got the string 'maybe'"
    ) in result.stdout
    assert "[report]" in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_validate_checks_the_called_local_workflow_and_what_the_call_passes(repo: Path) -> None:
    write_workflows(
        repo,
        caller=CALLER.replace('python-version: "3.12"', 'pyton-version: "3.12"'),
        called=CALLED.replace(
            'runs-on: ubuntu-latest\n    steps:\n      - run: echo "docs',
            ('runs-on: ubuntu-latest\n    stepz:\n      - run: echo "docs'),
        ),
    )
    for command in ("validate", "run"):
        result = run_conveyor(command, cwd=repo)
        assert result.returncode == 2, result.stdout + result.stderr
        err = result.stderr
        assert (
            ".github/workflows/ci.yml:10:11: uses: ./.github/workflows/shared-tests.yml is "
            "invalid: .github/workflows/shared-tests.yml:25:5: unknown key 'stepz'"
        ) in err
        assert err.count(".github/workflows/shared-tests.yml:25:5: unknown key 'stepz'") == 2
        assert "Traceback" not in err
    # once the called workflow is fixed, the names the call passes are checked
    write_workflows(repo, caller=CALLER.replace('python-version: "3.12"', 'pyton-version: "3"'))
    result = run_conveyor("validate", cwd=repo)
    assert result.returncode == 2
    assert (
        ".github/workflows/ci.yml:12:22: input 'pyton-version' is not defined in "
        ".github/workflows/shared-tests.yml (its inputs: python-version, verbose)"
    ) in result.stderr
    assert (
        ".github/workflows/ci.yml:12:7: .github/workflows/shared-tests.yml requires input "
        "'python-version', which job 'tests' does not pass"
    ) in result.stderr


def test_validate_finds_a_missing_called_workflow_and_a_cycle(repo: Path) -> None:
    workflows = repo / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text(
        "on: push\njobs:\n  a:\n    uses: ./.github/workflows/loop.yml\n"
        "  b:\n    uses: ./.github/workflows/nowhere.yml\n"
    )
    (workflows / "loop.yml").write_text(
        "on: workflow_call\njobs:\n  again:\n    uses: ./.github/workflows/loop.yml\n"
    )
    result = run_conveyor("validate", cwd=repo)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        ".github/workflows/loop.yml:4:11: job 'again' calls ./.github/workflows/loop.yml, "
        "which calls it back (.github/workflows/ci.yml → .github/workflows/loop.yml → "
        ".github/workflows/loop.yml)"
    ) in result.stderr
    assert ".github/workflows/ci.yml:6:11: uses: ./.github/workflows/nowhere.yml: no such file" in (
        result.stderr
    )


def test_list_says_what_a_caller_calls(repo: Path) -> None:
    write_workflows(repo)
    result = run_conveyor("list", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "  job tests  needs: lint\n" in result.stdout
    assert (
        "    calls: ./.github/workflows/shared-tests.yml (its jobs run as tests / <job>)"
        in result.stdout
    )
