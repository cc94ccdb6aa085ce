"""JUnit reports are read only from the workspace, and only this step's."""

from __future__ import annotations

import os
import time
from pathlib import Path

from conveyor.engine.junit_reports import junit_failures


def report(path: Path, *cases: tuple[str, str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(
        f'<testcase classname="{cls}" name="{name}">{"<" + kind + "/>" if kind else ""}</testcase>'
        for cls, name, kind in cases
    )
    path.write_text(f'<?xml version="1.0"?><testsuites><testsuite>{body}</testsuite></testsuites>')
    return path


def test_it_reads_the_steps_reports_but_no_link_out_of_the_workspace(tmp_path: Path) -> None:
    workspace, outside = tmp_path / "workspace", tmp_path / "outside"
    workspace.mkdir()
    since = time.time()
    report(workspace / "out" / "unit.xml", ("shop.Cart", "test_total", "failure"))
    report(workspace / "test-results" / "api.xml", ("api", "test_get", "error"), ("api", "ok", ""))
    report(outside / "secret.xml", ("secret", "leaked", "failure"))
    report(outside / "dir" / "x.xml", ("secret", "also_leaked", "failure"))
    (workspace / "junit.xml").symlink_to(outside / "secret.xml")
    (workspace / "reports").symlink_to(outside / "dir")
    old = report(workspace / "junit-old.xml", ("old", "stale", "failure"))
    os.utime(old, (since - 3600, since - 3600))
    (workspace / "test-results" / "broken.xml").write_text("<testsuite><testcase")

    found = junit_failures("pytest --junitxml=out/unit.xml", str(workspace), str(workspace), since)

    assert found == ["shop.Cart.test_total", "api.test_get"]
