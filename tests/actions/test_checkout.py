"""actions/checkout with real git repositories: each documented input changes the result."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conveyor.engine.events import Status
from conveyor.engine.git_info import GitInfo
from conveyor.executors.local import LocalExecutor
from tests.engine.helpers import run_yaml
from tests.helpers import git


def head(path: Path, what: str = "HEAD") -> str:
    # safe.directory: one test hands the repository to another user.
    return git("-c", "safe.directory=*", "rev-parse", what, cwd=path).strip()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """main: three commits (v1 tags the first), branch `other` from the first."""
    path = tmp_path / "project"
    path.mkdir()
    git("init", "-q", "-b", "main", cwd=path)
    (path / "docs").mkdir()
    (path / "docs" / "guide.md").write_text("guide\n")
    (path / "src").mkdir()
    (path / "src" / "app.py").write_text("version = 1\n")
    (path / "README").write_text("one\n")
    git("add", ".", cwd=path)
    git("commit", "-q", "-m", "one", cwd=path)
    git("tag", "v1", cwd=path)
    git("branch", "other", cwd=path)
    for number in ("two", "three"):
        (path / "README").write_text(number + "\n")
        git("commit", "-q", "-am", number, cwd=path)
    git("checkout", "-q", "other", cwd=path)
    (path / "other.txt").write_text("on other\n")
    git("add", ".", cwd=path)
    git("commit", "-q", "-m", "other work", cwd=path)
    git("checkout", "-q", "main", cwd=path)
    return path


def run(project: Path, steps: str, **options):
    info = GitInfo(
        sha=head(project),
        ref="refs/heads/main",
        ref_name="main",
        repository="acme/project",
        repository_owner="acme",
    )
    text = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n" + "".join(
        "      " + line + "\n" for line in steps.strip("\n").splitlines()
    )
    options.setdefault("executor", LocalExecutor())
    return run_yaml(text, str(project), git=info, **options)


def log(outcome, step: int = 0) -> str:
    return "\n".join(outcome.events.log("a", step))


def step_result(outcome, step: int = 0):
    return outcome.result.jobs["a"].steps[step]


def test_the_runs_own_commit_in_place_costs_nothing(project):
    (project / "uncommitted.txt").write_text("mine\n")
    outcome = run(project, "- uses: actions/checkout@v4")
    assert outcome.result.status == Status.SUCCESS
    assert "already checked out" in log(outcome)
    assert step_result(outcome).outputs == {"ref": "refs/heads/main", "commit": head(project)}
    assert (project / "uncommitted.txt").exists()  # clean: true leaves your tree alone


def test_ref_a_tag_into_a_path(project):
    outcome = run(
        project,
        """
- id: co
  uses: actions/checkout@v4
  with: {ref: v1, path: old}
- run: cat old/README
""",
    )
    assert outcome.result.status == Status.SUCCESS, log(outcome)
    assert outcome.events.log("a", 1) == ["one"]
    assert head(project / "old") == head(project, "v1")
    assert step_result(outcome).outputs["commit"] == head(project, "v1")
    assert head(project) == head(project, "main")  # the workspace did not move


def test_ref_a_branch_checks_out_that_branch(project):
    outcome = run(project, "- uses: actions/checkout@v4\n  with: {ref: other, path: o}")
    assert outcome.result.status == Status.SUCCESS, log(outcome)
    assert git("branch", "--show-current", cwd=project / "o").strip() == "other"
    assert (project / "o" / "other.txt").read_text() == "on other\n"


def test_ref_another_commit_in_place_moves_only_a_disposable_workspace(project, tmp_path):
    first = head(project, "v1")
    refused = run(project, f"- uses: actions/checkout@v4\n  with: {{ref: {first}}}")
    assert refused.result.status == Status.FAILURE
    reason = step_result(refused).reason
    assert "would change your working tree" in reason and reason.startswith("ci.yml:")
    assert head(project) != first

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(project), str(clone)], check=True)
    (clone / "made-by-a-step.txt").write_text("x")
    moved = run(
        clone, f"- uses: actions/checkout@v4\n  with: {{ref: {first}}}", disposable_workspace=True
    )
    assert moved.result.status == Status.SUCCESS, log(moved)
    assert head(clone) == first
    assert (clone / "README").read_text() == "one\n"
    assert not (clone / "made-by-a-step.txt").exists()  # clean: true


def test_unknown_ref_is_a_clear_failure(project):
    outcome = run(project, "- uses: actions/checkout@v4\n  with: {ref: no-such-thing, path: x}")
    assert outcome.result.status == Status.FAILURE
    assert "ref 'no-such-thing' is neither a branch, a tag nor a commit" in log(outcome)


def test_path_must_stay_inside_the_workspace(project, tmp_path):
    outcome = run(project, "- uses: actions/checkout@v4\n  with: {path: ../escape}")
    assert outcome.result.status == Status.FAILURE
    assert "outside the workspace" in step_result(outcome).reason
    assert not (tmp_path / "escape").exists()


def test_path_alone_makes_a_second_copy_of_the_runs_commit(project):
    outcome = run(project, "- uses: actions/checkout@v4\n  with: {path: copy}")
    assert outcome.result.status == Status.SUCCESS, log(outcome)
    assert head(project / "copy") == head(project)
    assert (project / "copy" / "README").read_text() == "three\n"


@pytest.mark.parametrize(("clean", "kept"), [("true", False), ("false", True)])
def test_clean_removes_what_the_job_left_in_a_checkout(project, clean, kept):
    outcome = run(
        project,
        f"""
- uses: actions/checkout@v4
  with: {{path: copy}}
- run: echo junk > copy/untracked.txt && echo changed > copy/README
- uses: actions/checkout@v4
  with: {{path: copy, clean: {clean}}}
""",
    )
    assert outcome.result.status == Status.SUCCESS, log(outcome, 2)
    assert (project / "copy" / "untracked.txt").exists() == kept
    # Changed tracked files go back either way, as on GitHub (checkout --force).
    assert (project / "copy" / "README").read_text() == "three\n"


@pytest.mark.parametrize(("depth", "count"), [("1", "1"), ("2", "2"), ("0", "3")])
def test_fetch_depth(project, depth, count):
    outcome = run(
        project, f"- uses: actions/checkout@v4\n  with: {{path: c, fetch-depth: {depth}}}"
    )
    assert outcome.result.status == Status.SUCCESS, log(outcome)
    assert git("rev-list", "--count", "HEAD", cwd=project / "c").strip() == count


@pytest.mark.parametrize(("fetch_tags", "tags"), [("true", "v1"), ("false", "")])
def test_fetch_tags(project, fetch_tags, tags):
    outcome = run(
        project, f"- uses: actions/checkout@v4\n  with: {{path: c, fetch-tags: {fetch_tags}}}"
    )
    assert outcome.result.status == Status.SUCCESS, log(outcome)
    assert git("tag", cwd=project / "c").strip() == tags


@pytest.mark.parametrize(("cone", "present"), [("true", {"README", "docs"}), ("false", {"docs"})])
def test_sparse_checkout(project, cone, present):
    outcome = run(
        project,
        f"""
- uses: actions/checkout@v4
  with:
    path: c
    sparse-checkout: {"docs" if cone == "true" else "/docs/"}
    sparse-checkout-cone-mode: {cone}
""",
    )
    assert outcome.result.status == Status.SUCCESS, log(outcome)
    assert {p.name for p in (project / "c").iterdir()} - {".git"} == present


@pytest.mark.parametrize(("show", "shown"), [("true", True), ("false", False)])
def test_show_progress(project, show, shown):
    outcome = run(
        project, f"- uses: actions/checkout@v4\n  with: {{path: c, show-progress: {show}}}"
    )
    assert outcome.result.status == Status.SUCCESS, log(outcome)
    assert ("Counting objects" in log(outcome)) == shown


def make_submodules(project: Path, tmp_path: Path) -> None:
    """project/libs/sub is a submodule, and sub/deep/inner one inside it."""
    inner = tmp_path / "inner"
    inner.mkdir()
    git("init", "-q", "-b", "main", cwd=inner)
    (inner / "inner.txt").write_text("inner\n")
    git("add", ".", cwd=inner)
    git("commit", "-q", "-m", "inner", cwd=inner)
    sub = tmp_path / "sub"
    sub.mkdir()
    git("init", "-q", "-b", "main", cwd=sub)
    (sub / "lib.txt").write_text("library\n")
    git("add", ".", cwd=sub)
    git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(inner), "deep", cwd=sub)
    git("commit", "-q", "-m", "lib", cwd=sub)
    git(
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        str(sub),
        "libs/sub",
        cwd=project,
    )
    git("commit", "-q", "-m", "with a submodule", cwd=project)


@pytest.mark.parametrize(
    ("submodules", "lib", "inner"),
    [("false", False, False), ("true", True, False), ("recursive", True, True)],
)
def test_submodules(project, tmp_path, submodules, lib, inner):
    make_submodules(project, tmp_path)
    outcome = run(
        project, f"- uses: actions/checkout@v4\n  with: {{path: c, submodules: {submodules}}}"
    )
    assert outcome.result.status == Status.SUCCESS, log(outcome)
    assert (project / "c" / "libs" / "sub" / "lib.txt").exists() == lib
    assert (project / "c" / "libs" / "sub" / "deep" / "inner.txt").exists() == inner


def test_repository_other_than_the_runs_is_refused_and_its_own_accepted(project):
    other = run(project, "- uses: actions/checkout@v4\n  with: {repository: someone/else}")
    assert other.result.status == Status.FAILURE
    assert "only the run's own repository (acme/project)" in step_result(other).reason
    own = run(project, "- uses: actions/checkout@v4\n  with: {repository: ACME/project, path: c}")
    assert own.result.status == Status.SUCCESS, log(own)
    assert head(project / "c") == head(project)


def test_credentials_inputs_say_they_are_not_needed(project):
    outcome = run(
        project,
        "- uses: actions/checkout@v4\n  with: {token: abc, persist-credentials: true}",
    )
    assert outcome.result.status == Status.SUCCESS
    assert "token: not used" in log(outcome)
    assert "no credentials were used, so none are kept" in log(outcome)


@pytest.mark.skipif(shutil.which("git-lfs") is not None, reason="git-lfs is installed here")
def test_lfs_without_git_lfs_is_a_clear_error(project):
    outcome = run(project, "- uses: actions/checkout@v4\n  with: {lfs: true}")
    assert outcome.result.status == Status.FAILURE
    assert "lfs: true needs git-lfs, which is not installed" in log(outcome)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a repository owned by another user")
@pytest.mark.parametrize(("safe", "status"), [("true", Status.SUCCESS), ("false", Status.FAILURE)])
def test_set_safe_directory_lets_git_use_a_repository_of_another_owner(project, safe, status):
    for root, dirs, files in os.walk(project):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), 65534, 65534)
    os.lchown(project, 65534, 65534)
    outcome = run(
        project,
        f"- uses: actions/checkout@v4\n  with: {{path: c, ref: main, set-safe-directory: {safe}}}",
        base_env={"PATH": os.environ["PATH"], "HOME": str(project.parent)},
    )
    assert outcome.result.status == status, log(outcome)
    if status == Status.FAILURE:
        assert "dubious ownership" in log(outcome)
