"""The live view lists the run's artifacts (name, size, where on disk) at its end."""

from __future__ import annotations

import io

from rich.console import Console

from conveyor.engine.events import RunArtifacts, RunFinished, RunStarted, Status
from conveyor.terminal.live import LiveSink


def test_the_artifacts_event_is_shown_with_size_and_path() -> None:
    out = io.StringIO()
    sink = LiveSink(Console(file=out, width=200, color_system=None, force_terminal=False))
    artifact = {"id": 1, "name": "coverage", "size": 12_345, "files": 3, "path": "/s/a.tar.gz"}
    for event in (
        RunStarted("CI", "ci.yml", "push", "refs/heads/main", "a" * 40, ["build"]),
        RunArtifacts(artifacts=[artifact]),
        RunFinished(Status.SUCCESS, 1.0),
    ):
        sink.emit(event)
    sink.close()
    text = out.getvalue()
    assert "Artifacts (1)" in text
    assert "coverage  12.3 kB  3 file(s)  /s/a.tar.gz" in text
