"""The action file is read by Conveyor itself, outside any sandbox: it is read only when
it is a plain file that really lies in the workspace, whatever was swapped in for it."""

from __future__ import annotations

import os

import pytest

from conveyor.workflow.errors import WorkflowInvalid
from conveyor.workflow.load import _read, load_action

ACTION = "runs:\n  using: composite\n  steps:\n    - run: echo hi\n      shell: bash\n"


def test_a_fifo_in_place_of_the_file_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "action.yml"
    os.mkfifo(fifo)
    with pytest.raises(WorkflowInvalid, match="not a regular file"):
        _read(fifo, "./x/action.yml")


def test_a_file_that_resolves_outside_the_workspace_is_refused(tmp_path):
    outside = tmp_path / "outside.yml"
    outside.write_text(ACTION)
    workspace = tmp_path / "work"
    action_dir = workspace / "x"
    action_dir.mkdir(parents=True)
    (action_dir / "action.yml").symlink_to(outside)
    with pytest.raises(WorkflowInvalid, match="outside"):
        load_action(action_dir, "./x", within=str(workspace))


def test_a_link_that_stays_in_the_workspace_is_read(tmp_path):
    workspace = tmp_path / "work"
    (workspace / "shared").mkdir(parents=True)
    (workspace / "shared" / "action.yml").write_text(ACTION)
    (workspace / "x").mkdir()
    (workspace / "x" / "action.yml").symlink_to(workspace / "shared" / "action.yml")
    action = load_action(workspace / "x", "./x", within=str(workspace))
    assert len(action.steps) == 1
