"""``RunOptions.matrix_filter`` (``conveyor run --matrix``): only the matching legs run."""

from __future__ import annotations

from conveyor.executors.local import LocalExecutor
from tests.engine.helpers import run_yaml

DYNAMIC = """\
on: push
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      versions: ${{ steps.pick.outputs.versions }}
    steps:
      - id: pick
        run: echo 'versions=["3.11", 3.12, 3.13]' >> "$GITHUB_OUTPUT"
  test:
    needs: plan
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python: ${{ fromJSON(needs.plan.outputs.versions) }}
    steps:
      - env:
          TOTAL: ${{ strategy.job-total }}
        run: echo "leg ${{ matrix.python }} is ${{ strategy.job-index }} of $TOTAL"
"""


def test_a_matrix_made_at_run_time_is_filtered_when_its_job_starts(tmp_path):
    outcome = run_yaml(
        DYNAMIC, str(tmp_path), executor=LocalExecutor(), matrix_filter={"python": ["3.12"]}
    )
    assert outcome.result.status == "success", outcome.result.reason
    assert list(outcome.result.jobs) == ["plan", "test (3.12)"]
    # The leg keeps the index and total it has on GitHub.
    assert "leg 3.12 is 1 of 3" in outcome.events.log("test (3.12)")


def test_several_values_of_one_key_keep_each_matching_leg(tmp_path):
    outcome = run_yaml(
        DYNAMIC,
        str(tmp_path),
        executor=LocalExecutor(),
        matrix_filter={"python": ["3.11", "3.13"]},
    )
    assert list(outcome.result.jobs) == ["plan", "test (3.11)", "test (3.13)"]


def test_a_filter_that_leaves_no_leg_fails_the_job_naming_its_legs(tmp_path):
    outcome = run_yaml(
        DYNAMIC, str(tmp_path), executor=LocalExecutor(), matrix_filter={"python": ["2.7"]}
    )
    assert outcome.result.status == "failure"
    reason = outcome.result.jobs["test"].reason
    assert reason == (
        "ci.yml:14:7: --matrix python=2.7 matches no leg of job 'test': its legs are "
        "test (3.11), test (3.12), test (3.13)"
    )
