"""`conveyor run` on a real multi-job workflow pinned to action SHAs prints a table a
person can read: one row a job, actions by their short ref, tracker columns named by
the jobs, and no line wider than the 100 columns of piped output."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import conveyor_env, git, run_conveyor

pytestmark = pytest.mark.slow

SHA = "11bd71901bbe5b1630ceea73d27597364c9af683"

WORKFLOW = f"""\
name: CI
on: push
jobs:
  lint:
    name: Lint the sources
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@{SHA}
      - run: echo "lint found all $(ls | wc -l) files look fine to the linter of this repository"
  test:
    needs: lint
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@{SHA}
      - name: Unit tests
        run: |
          echo "Ran 12 tests in 0.3s, every one of them passed on the first try here"
          echo done
  package:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "packaged the project into a wheel and a source distribution for release"
"""


def test_the_table_has_a_short_row_per_job_and_fits_a_hundred_columns(repo: Path) -> None:
    (repo / ".github/workflows").mkdir(parents=True)
    (repo / ".github/workflows/ci.yml").write_text(WORKFLOW)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "ci", cwd=repo)
    env = conveyor_env()
    env.pop("COLUMNS", None)  # piped, with no width asked for

    result = run_conveyor("run", cwd=repo, env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    tables = result.stdout[result.stdout.index("Execution table") :]
    assert SHA not in tables and SHA[:8] not in tables
    assert max(len(line) for line in tables.splitlines()) <= 100, tables
    lines = tables.splitlines()
    rows = {line.split("  ")[0]: line for line in lines if line[:1].isdigit()}
    assert rows["1"].startswith("1     Lint the sources  actions/checkout@")
    assert "Succeeded in" in rows["1"] and rows["1"].endswith("Proceed to test")
    assert rows["2"].startswith("2     test              actions/checkout@")
    assert rows["2"].endswith("Proceed to package")
    assert rows["3"].startswith("3     package           actions/checkout@v4; echo")
    assert rows["3"].endswith("Pipeline Complete")
    assert rows["4"].split() == ["4", "Pipeline", "End", "-", "-", "No", "further", "steps"]
    # The lines are cut, not wrapped: one line a row, the cut marked.
    assert any("…" in rows[n] for n in "123")
    header = next(line for line in lines if line.startswith("Variable  "))
    assert "After Lint the sources" in header and "After test" in header
    assert "After package" in header
    assert result.stdout.rstrip().endswith("pipeline_status: package succeeded")

    # The cells in full, as --json gives them: what each job ran, in short.
    pipeline = run_conveyor("run", "--json", cwd=repo, env=env).events()[-1]
    assert [(row["action"], row["command"]) for row in pipeline["table"]] == [
        (
            "Lint the sources",
            'actions/checkout@11bd719; echo "lint found all $(ls | wc -l) files look fine to '
            'the linter of this repository"',
        ),
        (
            "test",
            'actions/checkout@11bd719; echo "Ran 12 tests in 0.3s, every one of them passed '
            'on the first try here"',
        ),
        (
            "package",
            'actions/checkout@v4; echo "packaged the project into a wheel and a source '
            'distribution for release"',
        ),
        ("Pipeline End", "-"),
    ]
    assert SHA not in str(pipeline)
