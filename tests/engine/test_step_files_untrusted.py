"""A step may swap the files the engine shares with it for links or FIFOs: the engine
neither reads nor writes through them (on the server, they would point at its keys)."""

from __future__ import annotations

import os

from conveyor.engine.events import StepSummary
from conveyor.executors.local import LocalExecutor
from tests.engine.helpers import run_yaml


def test_links_to_the_servers_files_are_neither_read_nor_written(tmp_path):
    key = tmp_path / "encryption_keys"
    key.write_text("KEY-0123456789\n")
    database = tmp_path / "conveyor.sqlite3"
    database.write_text("precious rows\n")
    workspace = tmp_path / "work"
    workspace.mkdir()
    outcome = run_yaml(
        f"""
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - run: |
                  ln -sf {key} "$GITHUB_STEP_SUMMARY"
                  ln -sf {key} "$GITHUB_OUTPUT"
                  ln -sf {database} "$GITHUB_ENV"
                  ln -sf {database} "$(dirname "$GITHUB_OUTPUT")/step.sh"
              - run: echo second step ran
              - run: rm "$GITHUB_OUTPUT" "$GITHUB_ENV"; mkfifo "$GITHUB_OUTPUT"; mkdir "$GITHUB_ENV"
              - run: echo fourth step ran
        """,
        str(workspace),
        executor=LocalExecutor(),
    )
    steps = outcome.result.jobs["a"].steps
    assert [step.status.value for step in steps] == ["success"] * 4
    assert key.read_text() == "KEY-0123456789\n"
    assert database.read_text() == "precious rows\n"
    summaries = [e for e in outcome.events.events if isinstance(e, StepSummary)]
    assert summaries == []
    assert steps[0].outputs == {}
    assert os.path.exists(database)
