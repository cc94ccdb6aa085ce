"""The live view of a run that calls a reusable workflow marks the called jobs' lines
``[caller / job]``, from a real run's events."""

from __future__ import annotations

import io

from rich.console import Console

from conveyor.terminal.live import LiveSink
from tests.engine.test_reusable_workflows import TESTS_WORKFLOW, run_caller, write


def test_the_called_jobs_lines_carry_caller_slash_job(tmp_path) -> None:
    workspace = tmp_path / "repo"
    write(workspace, "tests.yml", TESTS_WORKFLOW)
    outcome = run_caller(
        workspace,
        """\
        on: push
        jobs:
          call:
            uses: ./.github/workflows/tests.yml
            with: {python-version: "3.12"}
            secrets: inherit
        """,
        secrets={"token": "tok-live"},
    )
    out = io.StringIO()
    sink = LiveSink(Console(file=out, width=200, color_system=None, force_terminal=False))
    for event in outcome.events.events:
        sink.emit(event)
    sink.close()
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    assert "[call / test] job started" in lines
    assert "[call / test] │ python=3.12 coverage=false" in lines
    assert "[call / report] │ saw passed-3.12" in lines
    assert any(line.startswith("[call / report] ✓ job success in ") for line in lines)
    assert "tok-live" not in out.getvalue()
