"""A fetched action is copied into the job's runner directory, which the job's steps can
change: no link they leave there makes the engine write elsewhere, and no link in the
action's repository makes the engine read a file of the host."""

from __future__ import annotations

import os

import pytest

from conveyor.actions.fetch import ActionStore
from conveyor.actions.job_copy import copy_into_job
from conveyor.actions.resolve import ResolveError, resolve_remote
from tests.actions.forge import publish
from tests.helpers import git


def make_tree(path):
    (path / "dist").mkdir(parents=True)
    (path / "dist/index.js").write_text("console.log(1)\n")
    (path / "run.sh").write_text("echo hi\n")
    (path / "run.sh").chmod(0o700)
    (path / "to-passwd").symlink_to("/etc/passwd")


def test_the_copy_keeps_files_modes_and_links_as_links(tmp_path):
    make_tree(tmp_path / "tree")
    runner = tmp_path / "runner"
    runner.mkdir()
    copy = copy_into_job(str(tmp_path / "tree"), str(runner), ["_actions", "o", "r", "v1"])
    assert copy == str(runner / "_actions/o/r/v1")
    assert (runner / "_actions/o/r/v1/dist/index.js").read_text() == "console.log(1)\n"
    assert os.stat(runner / "_actions/o/r/v1/run.sh").st_mode & 0o777 == 0o755
    assert os.stat(runner / "_actions/o/r/v1/dist/index.js").st_mode & 0o777 == 0o644
    assert os.readlink(runner / "_actions/o/r/v1/to-passwd") == "/etc/passwd"
    assert [name for name in os.listdir(runner / "_actions/o/r") if name.startswith(".")] == []


def test_links_a_step_left_in_the_runner_directory_are_not_followed(tmp_path):
    make_tree(tmp_path / "tree")
    runner = tmp_path / "runner"
    (runner / "_actions").mkdir(parents=True)
    secret_place = tmp_path / "data"
    secret_place.mkdir()
    # A step replaced the owner's directory with a link to the server's data.
    (runner / "_actions/o").symlink_to(secret_place)
    copy_into_job(str(tmp_path / "tree"), str(runner), ["_actions", "o", "r", "v1"])
    assert os.listdir(secret_place) == []
    assert not os.path.islink(runner / "_actions/o")
    assert (runner / "_actions/o/r/v1/dist/index.js").is_file()
    # and a link in the last place is replaced, not written through
    (runner / "_actions/o/r/v2").symlink_to(secret_place)
    copy_into_job(str(tmp_path / "tree"), str(runner), ["_actions", "o", "r", "v2"])
    assert os.listdir(secret_place) == []
    assert (runner / "_actions/o/r/v2/run.sh").is_file()


def test_names_that_would_climb_are_refused(tmp_path):
    with pytest.raises(ValueError):
        copy_into_job(str(tmp_path), str(tmp_path), ["_actions", "..", "x"])


def test_an_action_file_that_links_out_of_its_repository_is_not_read(tmp_path):
    outside = tmp_path / "host-secret.yml"
    outside.write_text("runs:\n  using: node20\n  main: stolen.js\n")
    publish(tmp_path / "forge", "octo/sly", [{"README": "x\n"}], tag=None)
    work = tmp_path / "forge/work/octo/sly"
    (work / "action.yml").symlink_to(outside)
    git("add", ".", cwd=work)
    git("commit", "-qm", "link", cwd=work)
    git("tag", "v1", cwd=work)
    git("push", "-q", str(tmp_path / "forge/octo/sly.git"), "main", "v1", cwd=work)
    store = ActionStore(str(tmp_path / "store"), str(tmp_path / "forge"))
    with pytest.raises(ResolveError, match="outside"):
        resolve_remote("octo/sly@v1", store)
