"""CONVEYOR_MAX_STEP_LOG_MB: the stored log of a step flooding its output is capped,
ends with a line saying so, and the step (and the run) go on."""

from __future__ import annotations

import pytest

from conveyor.server.runs import services
from conveyor.server.runs.models import LogChunk, Step
from tests.server.conftest import wait_for_run_end

pytestmark = pytest.mark.django_db(transaction=True)

LINES = 1_500_000  # "y\n" each: 3,000,000 bytes, past a 1 MB cap
WORKFLOW = f"""\
on: push
steps:
  - name: Flood
    id: flood
    run: |
      yes | head -n {LINES}
      echo "done=yes" >> "$GITHUB_OUTPUT"
  - name: After
    run: echo "after the flood ${{{{ steps.flood.outputs.done }}}}"
"""


def stored_lines(step: Step) -> list[str]:
    return [line for chunk in LogChunk.objects.filter(step=step) for line in chunk.text.split("\n")]


def test_the_stored_log_is_capped_and_says_where(repository, git_project, workers, settings):
    settings.CONVEYOR_MAX_STEP_LOG_MB = 1
    git_project.commit({".conveyor.yml": WORKFLOW})
    before, after = git_project.push()
    [run] = services.create_runs_for_event(
        repository, event="push", ref="refs/heads/main", sha=after, before_sha=before
    )
    run = wait_for_run_end(run, timeout=120)
    assert run.status == "success", run.reason
    flood = stored_lines(Step.objects.get(job__run=run, index=0))
    *kept, notice = flood
    assert set(kept) == {"y"}
    assert 2 * len(kept) <= 1024 * 1024
    dropped = 2 * LINES - 2 * len(kept)
    assert notice == f"conveyor: log truncated at 1.0 MB; {dropped:,} bytes dropped"
    assert stored_lines(Step.objects.get(job__run=run, index=1)) == ["after the flood yes"]


def test_no_cap_with_zero(repository, git_project, workers, settings):
    settings.CONVEYOR_MAX_STEP_LOG_MB = 0
    git_project.commit({".conveyor.yml": WORKFLOW})
    before, after = git_project.push()
    [run] = services.create_runs_for_event(
        repository, event="push", ref="refs/heads/main", sha=after, before_sha=before
    )
    run = wait_for_run_end(run, timeout=120)
    assert len(stored_lines(Step.objects.get(job__run=run, index=0))) == LINES
