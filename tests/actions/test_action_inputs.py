"""The built-ins' ``with:`` read by one ActionInputs: each action keeps its own reading of
a boolean (the toolkit's, actions/cache's, checkout's and the artifacts'), run for real."""

from __future__ import annotations

import pytest

from conveyor.engine.events import Annotation, Status
from tests.actions.test_setup_python import run_steps
from tests.engine.helpers import Outcome

FILES = {"made.txt": "made\n"}


def log(outcome: Outcome) -> str:
    return "\n".join(outcome.events.log("t"))


def warnings(outcome: Outcome) -> list[str]:
    return [
        event.message
        for event in outcome.events.events
        if isinstance(event, Annotation) and event.level == "warning"
    ]


@pytest.mark.parametrize(
    ("value", "fails"), [("TRUE", True), ("tRuE", True), ("yes", False), ('""', False)]
)
def test_cache_reads_only_true_in_any_case_as_true_and_nothing_as_an_error(tmp_path, value, fails):
    outcome = run_steps(
        tmp_path,
        f"""
        - uses: actions/cache/restore@v4
          with: {{path: made.txt, key: never-saved, Fail-On-Cache-Miss: {value}}}
        """,
        files=FILES,
    )
    assert (outcome.result.status == Status.FAILURE) is fails, log(outcome)
    assert ("Exiting as fail-on-cache-miss is set" in log(outcome)) is fails
    assert not warnings(outcome)  # the name is the action's, in another case


@pytest.mark.parametrize("value", ["yes", "tRuE"])
def test_setup_python_reads_booleans_as_the_toolkit_does(tmp_path, value):
    outcome = run_steps(
        tmp_path,
        f"""
        - uses: actions/setup-python@v5
          with: {{python-version: "3", check-latest: {value}}}
        """,
        files=FILES,
    )
    assert outcome.result.status == Status.FAILURE
    assert f"input check-latest must be true or false, got '{value}'" in log(outcome)


@pytest.mark.parametrize(
    ("value", "ok"), [("True", True), ("FALSE", True), ("tRuE", False), ("yes", False)]
)
def test_upload_artifact_reads_its_flags_as_the_toolkit_does(tmp_path, value, ok):
    outcome = run_steps(
        tmp_path,
        f"""
        - uses: actions/upload-artifact@v4
          with: {{path: made.txt, Include-Hidden-Files: {value}}}
        """,
        files=FILES,
    )
    assert (outcome.result.status == Status.SUCCESS) is ok, log(outcome)
    if not ok:
        assert f"input include-hidden-files must be true or false, got '{value}'" in log(outcome)


def test_an_unknown_input_is_warned_about_naming_the_valid_ones(tmp_path):
    outcome = run_steps(
        tmp_path,
        """
        - uses: actions/upload-artifact@v4
          with: {path: made.txt, Retention: 3}
        """,
        files=FILES,
    )
    assert outcome.result.status == Status.SUCCESS, log(outcome)
    [warning] = warnings(outcome)
    assert "unexpected input(s) Retention; valid inputs are archive, compression-level" in warning
