"""conveyor run: a repository's runs share their actions/cache entries (in
$XDG_CACHE_HOME/conveyor), a --clean run too; another repository sees none of them."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.helpers import conveyor_env, git, run_conveyor

WORKFLOW = """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: cache
        uses: actions/cache@v4
        with:
          path: .deps
          key: deps-${{ hashFiles('requirements.txt') }}
      - run: |
          echo "hit=${{ steps.cache.outputs.cache-hit }}"
          mkdir -p .deps && touch .deps/installed
"""


def make_repository(path: Path) -> Path:
    path.mkdir()
    git("init", "-q", "-b", "main", cwd=path)
    (path / ".conveyor.yml").write_text(WORKFLOW)
    (path / "requirements.txt").write_text("django\n")
    (path / ".gitignore").write_text(".deps/\n")
    git("add", ".", cwd=path)
    git("commit", "-q", "-m", "cached", cwd=path)
    return path


def hit(repository: Path, env: dict[str, str], *args: str) -> str:
    result = run_conveyor("run", "--json", *args, cwd=repository, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    said = [line for line in result.log_lines() if line.startswith("hit=")]
    assert len(said) == 1, result.log_lines()
    return said[0].removeprefix("hit=")


def test_runs_of_one_repository_share_the_cache_and_others_do_not(tmp_path: Path) -> None:
    env = conveyor_env(XDG_CACHE_HOME=str(tmp_path / "xdg"))
    first = make_repository(tmp_path / "first")
    assert hit(first, env) == ""  # a miss
    shutil.rmtree(first / ".deps")
    assert hit(first, env) == "true"
    assert hit(first, env, "--clean") == "true"

    second = make_repository(tmp_path / "second")  # the same files, another repository
    assert hit(second, env) == ""
    assert len(list((tmp_path / "xdg" / "conveyor" / "cache").iterdir())) == 2
