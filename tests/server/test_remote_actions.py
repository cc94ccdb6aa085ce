"""A server run uses a JavaScript action fetched from its actions URL, inside the sandbox:
the job runs the action's copy, and the action store in the data directory stays unseen."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from conveyor.server.runs import services
from conveyor.server.runs.models import Job, Run
from tests.actions.forge import publish_hello
from tests.server.conftest import GitProject, wait_for_run_end

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap"),
    pytest.mark.skipif(shutil.which("node") is None, reason="needs node"),
]

WORKFLOW = """\
on: push
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - id: hello
        uses: octo/hello@v1
        with:
          who: server
      - run: |
          echo "said: ${{ steps.hello.outputs.greeting }}"
          if [ -e "$STORE" ]; then echo "store visible"; else echo "store hidden"; fi
        env:
          STORE: {store}
"""


def log_text(step: Any) -> str:
    return "\n".join(chunk.text for chunk in step.log_chunks.order_by("seq"))


def test_a_sandboxed_run_uses_a_fetched_javascript_action(
    repository: Any, git_project: GitProject, data_dir: Any, workers: Any, settings: Any, tmp_path
) -> None:
    assert settings.CONVEYOR_SANDBOX
    forge = tmp_path / "forge"
    publish_hello(forge)
    settings.CONVEYOR_ACTIONS_URL = str(forge)
    store = data_dir / "store"
    git_project.commit({".github/workflows/ci.yml": WORKFLOW.replace("{store}", str(store))})
    before, after = git_project.push()
    [run] = services.create_runs_for_event(
        repository, event="push", ref="refs/heads/main", sha=after, before_sha=before, actor="t"
    )
    run = wait_for_run_end(run, timeout=60)
    assert run.status == "success", run.reason
    job = Job.objects.get(run=run)
    steps = list(job.steps.order_by("index"))
    assert [(step.name, step.status) for step in steps] == [
        ("Run octo/hello@v1", "success"),
        ('Run echo "said: Hello, server"', "success"),
        ("Post Run octo/hello@v1", "success"),
    ]
    greet = log_text(steps[0])
    assert "pre for server" in greet and "Hello, server! (version 2)" in greet
    assert "the secret is ***" in greet and "revres" not in greet
    [path_line] = [line for line in greet.splitlines() if line.startswith("action path: ")]
    assert path_line.endswith("/_actions/octo/hello/v1")
    assert str(data_dir) not in path_line
    assert log_text(steps[1]).splitlines() == ["said: Hello, server", "store hidden"]
    assert log_text(steps[2]) == "post: pre-server, ***"
    # fetched once into the server's store
    assert (store / "actions/octo/hello.git").is_dir()
    assert Run.objects.get(pk=run.pk).pipeline_status
