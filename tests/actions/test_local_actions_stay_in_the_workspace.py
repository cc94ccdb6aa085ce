"""A local action that resolves outside the workspace, through a symlink, is refused.

Each case links to an action outside the repository that would touch a marker
file; the step must fail with the reason and the marker must not exist.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conveyor.engine.events import Status
from conveyor.executors.local import LocalExecutor
from tests.actions.test_composite import write_action
from tests.engine.helpers import run_yaml


def touching(marker: Path) -> str:
    return f"""
        name: Escapee
        runs:
          using: composite
          steps:
            - shell: bash
              run: touch '{marker}'
    """


def run_uses(workspace: Path, uses: str):
    return run_yaml(
        f"""
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: {uses}
              - run: echo not reached
        """,
        str(workspace),
        executor=LocalExecutor(),
    )


def assert_refused(outcome, marker: Path, resolves_to: Path) -> None:
    first, second = outcome.result.jobs["a"].steps
    assert first.status == Status.FAILURE
    reason = first.reason or ""
    assert "refused" in reason and "outside the workspace" in reason, reason
    assert str(resolves_to) in reason, reason
    assert f"##[error]{reason}" in outcome.events.log("a", 0)
    assert second.status == Status.SKIPPED
    assert not marker.exists()


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The repository checkout, a directory outside it, and the marker's path."""
    workspace = tmp_path / "repo"
    workspace.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    return workspace, outside, tmp_path / "marker"


def test_it_refuses_an_action_directory_that_is_a_symlink_outside(places):
    workspace, outside, marker = places
    write_action(outside, "evil", touching(marker))
    (workspace / "linked").symlink_to(outside / "evil")
    assert_refused(run_uses(workspace, "./linked"), marker, outside / "evil")


def test_it_refuses_a_path_through_a_symlinked_directory(places):
    workspace, outside, marker = places
    write_action(outside, "evil", touching(marker))
    (workspace / ".github").mkdir()
    (workspace / ".github/actions").symlink_to(outside)
    assert_refused(run_uses(workspace, "./.github/actions/evil"), marker, outside / "evil")


def test_it_refuses_an_action_file_that_is_a_symlink_outside(places):
    workspace, outside, marker = places
    (outside / "action.yml").write_text(textwrap.dedent(touching(marker)))
    (workspace / "actions/evil").mkdir(parents=True)
    (workspace / "actions/evil/action.yml").symlink_to(outside / "action.yml")
    assert_refused(run_uses(workspace, "./actions/evil"), marker, outside / "action.yml")


def test_it_refuses_a_nested_action_that_links_outside(places):
    workspace, outside, marker = places
    write_action(outside, "evil", touching(marker))
    (workspace / "linked").symlink_to(outside / "evil")
    write_action(
        workspace,
        "actions/outer",
        """
        name: Outer
        runs:
          using: composite
          steps:
            - shell: bash
              run: echo outer ran
            - uses: ./linked
        """,
    )
    outcome = run_uses(workspace, "./actions/outer")
    assert_refused(outcome, marker, outside / "evil")
    assert "outer ran" in outcome.events.log("a", 0)


def test_symlinks_that_stay_inside_are_followed(places, tmp_path):
    workspace, _, marker = places
    write_action(workspace, "actions/real", touching(marker))
    (workspace / "alias").symlink_to(workspace / "actions/real")
    # The workspace itself reached through a link, as /tmp is on some systems.
    via_link = tmp_path / "repo-link"
    via_link.symlink_to(workspace)
    outcome = run_uses(via_link, "./alias")
    assert outcome.result.status == Status.SUCCESS
    assert marker.exists()
