"""actions/cache, /restore and /save, run for real: bash and tar in the job, a store on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conveyor.actions.cache_store import CacheStore
from conveyor.engine.events import Annotation, Status
from conveyor.executors.local import LocalExecutor
from tests.engine.helpers import Outcome, run_yaml


@pytest.fixture
def store(tmp_path: Path) -> str:
    return str(tmp_path / "store")


def run(text: str, workspace: Path, store: str, scope: str = "acme/widgets", **options) -> Outcome:
    workspace.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["HOME"] = str(workspace.parent / "home")
    os.makedirs(env["HOME"], exist_ok=True)
    options.setdefault("base_env", env)
    return run_yaml(
        text,
        str(workspace),
        executor=LocalExecutor(),
        store_dir=store,
        cache_scope=scope,
        **options,
    )


def outputs(outcome: Outcome, job: str = "build") -> dict[str, dict[str, str]]:
    return {step.id: step.outputs for step in outcome.result.jobs[job].steps if step.id is not None}


def log_text(outcome: Outcome, job: str = "build") -> str:
    return "\n".join(outcome.events.log(job))


def warnings(outcome: Outcome) -> list[str]:
    return [
        event.message
        for event in outcome.events.events
        if isinstance(event, Annotation) and event.level == "warning"
    ]


BUILD = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: cache
        uses: actions/cache@v4
        with:
          path: deps
          key: deps-${{ hashFiles('lock.txt') }}
          restore-keys: deps-
      - run: |
          if [ -f deps/made ]; then echo "restored: $(cat deps/made)"; else echo built; fi
          mkdir -p deps && cat lock.txt > deps/made
"""


def test_the_second_run_restores_what_the_first_saved(tmp_path, store):
    first_ws = tmp_path / "one"
    first_ws.mkdir()
    (first_ws / "lock.txt").write_text("v1\n")
    first = run(BUILD, first_ws, store)
    assert first.result.status == Status.SUCCESS, log_text(first)
    assert outputs(first)["cache"] == {}  # a miss: cache-hit is empty, as on GitHub
    assert "built" in first.events.log("build", 1)
    steps = first.result.jobs["build"].steps
    assert steps[2].name == "Post Run actions/cache@v4"
    assert "Cache saved with key: deps-" in log_text(first)

    second_ws = tmp_path / "two"
    second_ws.mkdir()
    (second_ws / "lock.txt").write_text("v1\n")
    second = run(BUILD, second_ws, store)
    assert second.result.status == Status.SUCCESS, log_text(second)
    assert outputs(second)["cache"] == {"cache-hit": "true"}
    assert second.events.log("build", 1) == ["restored: v1"]
    assert "not saving cache" in log_text(second)
    assert len(CacheStore(store, "acme/widgets").entries()) == 1


def test_a_restore_key_restores_the_newest_entry_it_prefixes(tmp_path, store):
    for number, lock in enumerate(["old", "new"]):
        workspace = tmp_path / f"ws{number}"
        workspace.mkdir()
        (workspace / "lock.txt").write_text(lock)
        assert run(BUILD, workspace, store).result.status == Status.SUCCESS
    workspace = tmp_path / "third"
    workspace.mkdir()
    (workspace / "lock.txt").write_text("changed")
    third = run(BUILD, workspace, store)
    assert outputs(third)["cache"] == {"cache-hit": "false"}
    assert third.events.log("build", 1) == ["restored: new"]
    # A partial match saves the new key at the end.
    assert len(CacheStore(store, "acme/widgets").entries()) == 3
