"""actions/cache on the server: a repository's second run restores what its first saved,
through the job's sandbox, which never sees the store itself."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.server.conftest import GitProject, start_server
from tests.server.test_push_e2e import issue_token, push, repo_add, stop, wait_for_status

pytestmark = pytest.mark.slow  # a real server process

WORKFLOW = """\
on: push
steps:
  - id: cache
    uses: actions/cache@v4
    with:
      path: |
        deps
        ~/.cache/tool
      key: deps-${{ hashFiles('lock.txt') }}
  - name: Build
    run: |
      if [ -f deps/made ]; then echo "restored deps: $(cat deps/made)"; else echo "built"; fi
      if [ -f ~/.cache/tool/t ]; then echo "restored home: $(cat ~/.cache/tool/t)"; fi
      if [ ! -e "STORE" ]; then echo "the store is out of sight"; fi
      mkdir -p deps ~/.cache/tool && cat lock.txt > deps/made && echo home > ~/.cache/tool/t
      echo "hit=${{ steps.cache.outputs.cache-hit }}"
"""


def build_log(data: Path, number: int) -> list[str]:
    with sqlite3.connect(data / "conveyor.sqlite3") as database:
        rows = database.execute(
            "select c.text from runs_logchunk c join runs_step s on c.step_id = s.id "
            "join runs_job j on s.job_id = j.id join runs_run r on j.run_id = r.id "
            "where r.number = ? and s.name = 'Build' order by c.seq",
            (number,),
        ).fetchall()
    return "\n".join(text for (text,) in rows).splitlines()


def test_the_second_run_of_a_repository_restores_its_cache(tmp_path: Path, git_project: GitProject):
    data = tmp_path / "data"
    data.mkdir()
    server = start_server(data)
    try:
        repo_add(server, git_project)
        token = issue_token(server)
        workflow = WORKFLOW.replace("STORE", str(data / "store"))
        git_project.commit({".conveyor.yml": workflow, "lock.txt": "v1\n"}, "Cached pipeline")
        push(git_project)
        first = wait_for_status(server, token, 1, timeout=60)
        assert first["status"] == "success"
        assert build_log(data, 1) == ["built", "the store is out of sight", "hit="]
        assert list((data / "store" / "cache").iterdir())

        git_project.commit({"README.md": "again\n"}, "Second run")
        push(git_project)
        second = wait_for_status(server, token, 2, timeout=60)
        assert second["status"] == "success"
        assert build_log(data, 2) == [
            "restored deps: v1",
            "restored home: home",
            "the store is out of sight",
            "hit=true",
        ]
    finally:
        stop(server)
