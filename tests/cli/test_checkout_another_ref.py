"""``actions/checkout`` with another ref: refused in your working tree (it would change
it), done in the fresh clone ``conveyor run --clean`` makes."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import conveyor_env, git, run_conveyor

WORKFLOW = """
on: push
jobs:
  old:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: v1
      - run: cat README
"""


def make_project(repo: Path) -> None:
    git("tag", "v1", cwd=repo)
    (repo / "README").write_text("second version\n")
    (repo / ".conveyor.yml").write_text(WORKFLOW)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "second", cwd=repo)


def test_in_place_it_is_refused_with_the_way_out(repo: Path, tmp_path: Path):
    make_project(repo)
    env = conveyor_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    result = run_conveyor("run", cwd=repo, env=env)
    assert result.returncode == 1
    assert ".conveyor.yml:" in result.stdout and "conveyor run --clean" in result.stdout
    assert (repo / "README").read_text() == "second version\n"
    assert git("describe", "--tags", "--always", cwd=repo).strip() != "v1"


def test_with_clean_the_fresh_clone_moves_to_the_ref(repo: Path, tmp_path: Path):
    make_project(repo)
    env = conveyor_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    result = run_conveyor("run", "--clean", cwd=repo, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[old] | test repository" in result.stdout
    assert (repo / "README").read_text() == "second version\n"
