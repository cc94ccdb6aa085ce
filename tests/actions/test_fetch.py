"""Remote action repositories fetched with real git from bare repositories made here."""

from __future__ import annotations

import os
import subprocess

import pytest

from conveyor.actions.fetch import ActionStore, FetchError, fetch_tree, split_reference
from tests.helpers import git


def make_action_repository(base, name: str = "octo/greet"):
    """A bare repository ``base/<name>.git`` with tag v1, branch main and a later commit."""
    work = base / "work" / name
    work.mkdir(parents=True)
    git("init", "--quiet", "--initial-branch=main", cwd=work)
    (work / "action.yml").write_text("name: greet\nruns:\n  using: node20\n  main: index.js\n")
    (work / ".gitattributes").write_text("action.yml export-ignore\n")
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "first", cwd=work)
    git("tag", "v1", cwd=work)
    first = git("rev-parse", "HEAD", cwd=work).strip()
    (work / "index.js").write_text("console.log('second')\n")
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "second", cwd=work)
    bare = base / f"{name}.git"
    bare.parent.mkdir(parents=True, exist_ok=True)
    git("clone", "--quiet", "--bare", str(work), str(bare), cwd=base)
    return first, git("rev-parse", "HEAD", cwd=work).strip()


def test_split_reference():
    assert split_reference("actions/cache/restore@v4") == ("actions/cache", "restore", "v4")
    assert split_reference("octo/greet@main") == ("octo/greet", "", "main")


def test_a_tag_a_branch_and_a_pinned_sha_each_get_their_own_tree(tmp_path):
    first, second = make_action_repository(tmp_path / "forge")
    store = ActionStore(str(tmp_path / "store"), base_url=str(tmp_path / "forge"))
    tagged = fetch_tree(store, "octo/greet", "v1")
    assert tagged.sha == first
    # export-ignore does not hide files from an action
    assert (tmp_path / "store/octo/greet" / first / "action.yml").is_file()
    assert not os.path.exists(os.path.join(tagged.directory, "index.js"))
    branch = fetch_tree(store, "Octo/Greet", "main")
    assert branch.sha == second
    with open(os.path.join(branch.directory, "index.js")) as script:
        assert script.read() == "console.log('second')\n"
    pinned = fetch_tree(store, "octo/greet", first)
    assert pinned.directory == tagged.directory
    assert not tagged.warnings


def test_a_pinned_sha_fetched_before_needs_no_network(tmp_path):
    first, _ = make_action_repository(tmp_path / "forge")
    store = ActionStore(str(tmp_path / "store"), base_url=str(tmp_path / "forge"))
    fetch_tree(store, "octo/greet", "v1")
    gone = ActionStore(store.root, base_url=str(tmp_path / "nowhere"))
    assert fetch_tree(gone, "octo/greet", first).sha == first
    # a tag is fetched again; when that fails, the copy fetched before is used, and said
    again = fetch_tree(gone, "octo/greet", "v1")
    assert again.sha == first
    assert "using the copy of octo/greet@v1 fetched before" in again.warnings[0]


def test_unknown_ref_and_unknown_repository_say_what_is_missing(tmp_path):
    make_action_repository(tmp_path / "forge")
    store = ActionStore(str(tmp_path / "store"), base_url=str(tmp_path / "forge"))
    with pytest.raises(FetchError, match=r"octo/greet has no branch, tag or commit 'v9'"):
        fetch_tree(store, "octo/greet", "v9")
    with pytest.raises(FetchError, match=r"could not fetch octo/missing: "):
        fetch_tree(store, "octo/missing", "v1")
    with pytest.raises(FetchError, match="is not a repository name"):
        fetch_tree(store, "../etc", "v1")


def test_a_half_written_tree_is_never_left(tmp_path, monkeypatch):
    _, _ = make_action_repository(tmp_path / "forge")
    store = ActionStore(str(tmp_path / "store"), base_url=str(tmp_path / "forge"))
    real_run = subprocess.run

    def failing_checkout(args, *rest, **kwargs):
        if "checkout-index" in args:
            return subprocess.CompletedProcess(args, 1, "", "disk full")
        return real_run(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "run", failing_checkout)
    with pytest.raises(FetchError, match="disk full"):
        fetch_tree(store, "octo/greet", "v1")
    assert sorted(os.listdir(tmp_path / "store/octo/greet")) == []
