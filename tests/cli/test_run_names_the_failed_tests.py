"""When a test step fails, the end of `conveyor run` names the tests that failed,
read from the runner's own output: a real Django project's `manage.py test` and a
real pytest run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli.test_django_seed import make_django_project
from tests.helpers import conveyor_env, git, run_conveyor

pytestmark = pytest.mark.slow

ERRORING_TEST = """

class StockTests(TestCase):
    def test_stock_is_counted(self):
        raise RuntimeError("the stock table is missing")
"""


def test_a_django_test_step_names_its_failure_and_its_error(tmp_path: Path) -> None:
    project = make_django_project(tmp_path / "shop", failing_test=True)
    tests = project / "catalog" / "tests.py"
    tests.write_text(tests.read_text() + ERRORING_TEST)

    result = run_conveyor("run", cwd=project)

    assert result.returncode == 1, result.stdout + result.stderr
    failed = "catalog.tests.BrokenTests.test_price_is_positive"
    errored = "catalog.tests.StockTests.test_stock_is_counted"
    table = result.stdout[result.stdout.index("Execution table") :]
    test_row = next(line for line in table.splitlines() if line.startswith("2 "))
    assert f"failed tests: {failed}, {errored}" in test_row or (
        f"failed tests: {errored}, {failed}" in test_row
    )
    listed = table[table.index("Failed tests in Test:\n") :].splitlines()[1:3]
    assert sorted(listed) == [f"  {failed}", f"  {errored}"]
    assert result.stdout.rstrip().endswith("pipeline_status: Test failed")

    # --json's pipeline record carries the same row.
    pipeline = run_conveyor("run", "--json", cwd=project).events()[-1]
    assert pipeline["type"] == "pipeline"
    assert failed in pipeline["table"][1]["result"] and errored in pipeline["table"][1]["result"]


PYTEST_FILE = """\
import pytest


@pytest.mark.parametrize("n", range(12))
def test_price(n):
    assert n < 0, "prices are negative here"


def test_fine():
    assert True
"""

WORKFLOW = """\
on: push
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo lint ok
  unit:
    name: Unit tests
    runs-on: ubuntu-latest
    steps:
      - run: python -m pytest -q -p no:cacheprovider test_prices.py
"""


def test_a_pytest_job_names_ten_failures_and_counts_the_rest(repo: Path) -> None:
    (repo / "test_prices.py").write_text(PYTEST_FILE)
    (repo / ".github/workflows").mkdir(parents=True)
    (repo / ".github/workflows/ci.yml").write_text(WORKFLOW)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "tests", cwd=repo)

    # Wide enough ($COLUMNS) for the row whole: a full workflow's table is cut to the width.
    result = run_conveyor("run", cwd=repo, env=conveyor_env(COLUMNS="500"))

    assert result.returncode == 1, result.stdout + result.stderr
    assert "12 failed, 1 passed" in result.stdout
    table = result.stdout[result.stdout.index("Execution table") :]
    unit_row = next(line for line in table.splitlines() if line.startswith("2 "))
    assert (
        "failed tests: test_prices.py::test_price[0], test_prices.py::test_price[1], "
        "test_prices.py::test_price[2] and 9 more"
    ) in unit_row
    listed = table[table.index("Failed tests in Unit tests:\n") :].splitlines()[1:12]
    assert listed == [f"  test_prices.py::test_price[{n}]" for n in range(10)] + ["  and 2 more"]
    assert "test_fine" not in table


QUIET_WORKFLOW = """\
steps:
  - name: Test
    run: python -m pytest -pno:cacheprovider --junitxml=build/results.xml test_prices.py >/dev/null
"""


def test_a_junit_report_names_the_failures_the_output_kept_quiet(repo: Path) -> None:
    (repo / "test_prices.py").write_text(PYTEST_FILE)
    (repo / ".conveyor.yml").write_text(QUIET_WORKFLOW)
    # A report left from before the step ran names nothing of this run.
    stale = repo / "junit.xml"
    stale.write_text(
        '<testsuite name="old"><testcase classname="old" name="gone">'
        "<failure/></testcase></testsuite>"
    )
    os.utime(stale, (1_000_000_000, 1_000_000_000))

    result = run_conveyor("run", cwd=repo)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "test_price[" not in result.stdout[: result.stdout.index("Execution table")]
    table = result.stdout[result.stdout.index("Execution table") :]
    listed = table[table.index("Failed tests in Test:\n") :].splitlines()[1:12]
    assert listed == [f"  test_prices.test_price[{n}]" for n in range(10)] + ["  and 2 more"]
    assert "old.gone" not in table and "test_fine" not in table
