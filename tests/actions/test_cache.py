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


def run(
    text: str,
    workspace: Path,
    store: str,
    scope: str = "acme/widgets",
    executor: object | None = None,
    **options,
) -> Outcome:
    workspace.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["HOME"] = str(workspace.parent / "home")
    os.makedirs(env["HOME"], exist_ok=True)
    options.setdefault("base_env", env)
    return run_yaml(
        text,
        str(workspace),
        executor=executor or LocalExecutor(),
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


def workspace_with(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    workspace = tmp_path / name
    for relative, text in files.items():
        path = workspace / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    workspace.mkdir(parents=True, exist_ok=True)
    return workspace


def job(*steps: str) -> str:
    body = "".join(f"      {line}\n" for step in steps for line in step.strip().splitlines())
    return f"on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n{body}"


SAVE_ONE = """
- uses: actions/cache/save@v4
  with:
    path: out
    key: k-{key}
"""


def save_run(tmp_path: Path, store: str, name: str, key: str, content: str, **options) -> Outcome:
    workspace = workspace_with(tmp_path, name, {"out/file": content})
    outcome = run(job(SAVE_ONE.format(key=key)), workspace, store, **options)
    assert outcome.result.status == Status.SUCCESS, log_text(outcome)
    return outcome


RESTORE = """
- id: restore
  uses: actions/cache/restore@v4
  with:
    path: out
    key: {key}
    restore-keys: {restore_keys}
    {extra}
- run: cat out/file 2>/dev/null || echo "no file"
"""


def restore_run(tmp_path, store, name, key, restore_keys="''", extra="", **options) -> Outcome:
    workspace = workspace_with(tmp_path, name, {})
    text = job(RESTORE.format(key=key, restore_keys=restore_keys, extra=extra))
    return run(text, workspace, store, **options)


def test_restore_outputs_the_primary_and_matched_keys_and_saves_nothing(tmp_path, store):
    save_run(tmp_path, store, "a", "abc", "saved")
    exact = restore_run(tmp_path, store, "b", "k-abc")
    assert outputs(exact)["restore"] == {
        "cache-primary-key": "k-abc",
        "cache-hit": "true",
        "cache-matched-key": "k-abc",
    }
    assert exact.events.log("build", 1) == ["saved"]
    assert len(exact.result.jobs["build"].steps) == 2  # no post step

    partial = restore_run(tmp_path, store, "c", "k-other", restore_keys="k-")
    assert outputs(partial)["restore"] == {
        "cache-primary-key": "k-other",
        "cache-hit": "false",
        "cache-matched-key": "k-abc",
    }
    miss = restore_run(tmp_path, store, "d", "nothing")
    assert outputs(miss)["restore"] == {"cache-primary-key": "nothing"}
    assert miss.events.log("build", 1) == ["no file"]
    assert "Cache not found for input keys: nothing" in log_text(miss)


def test_the_key_itself_is_matched_as_a_prefix_before_the_restore_keys(tmp_path, store):
    save_run(tmp_path, store, "a", "abc-1", "one")
    outcome = restore_run(tmp_path, store, "b", "k-abc")
    assert outputs(outcome)["restore"]["cache-matched-key"] == "k-abc-1"
    assert outputs(outcome)["restore"]["cache-hit"] == "false"


def test_fail_on_cache_miss_fails_the_step_only_on_a_miss(tmp_path, store):
    miss = restore_run(tmp_path, store, "a", "absent", extra="fail-on-cache-miss: true")
    assert miss.result.status == Status.FAILURE
    assert miss.result.jobs["build"].reason == (
        "Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: absent"
    )
    quiet = restore_run(tmp_path, store, "b", "absent", extra="fail-on-cache-miss: false")
    assert quiet.result.status == Status.SUCCESS
    save_run(tmp_path, store, "c", "here", "x")
    hit = restore_run(tmp_path, store, "d", "k-here", extra="fail-on-cache-miss: true")
    assert hit.result.status == Status.SUCCESS


def test_lookup_only_finds_the_entry_without_restoring_it(tmp_path, store):
    save_run(tmp_path, store, "a", "abc", "saved")
    looked = restore_run(tmp_path, store, "b", "k-abc", extra="lookup-only: true")
    assert outputs(looked)["restore"]["cache-hit"] == "true"
    assert looked.events.log("build", 1) == ["no file"]
    assert "Cache found and can be restored from key: k-abc" in log_text(looked)


def test_different_paths_under_one_key_are_different_entries(tmp_path, store):
    save_run(tmp_path, store, "a", "same", "from out")
    workspace = workspace_with(tmp_path, "b", {})
    other_path = job(
        """
- id: restore
  uses: actions/cache/restore@v4
  with:
    path: elsewhere
    key: k-same
"""
    )
    outcome = run(other_path, workspace, store)
    assert outputs(outcome)["restore"] == {"cache-primary-key": "k-same"}  # a miss


def test_a_failed_job_saves_nothing(tmp_path, store):
    workspace = workspace_with(tmp_path, "a", {"deps/x": "1"})
    text = job(
        """
- uses: actions/cache@v4
  with:
    path: deps
    key: failing
    save-always: true
""",
        "- run: exit 1",
    )
    outcome = run(text, workspace, store)
    assert outcome.result.status == Status.FAILURE
    post = outcome.result.jobs["build"].steps[2]
    assert (post.name, post.status) == ("Post Run actions/cache@v4", Status.SKIPPED)
    assert CacheStore(store, "acme/widgets").entries() == []
    # save-always is deprecated on GitHub and does not change when the post step runs.
    assert any("save-always does not work as intended" in text for text in warnings(outcome))


def test_save_keeps_the_first_entry_of_a_key(tmp_path, store):
    save_run(tmp_path, store, "a", "once", "first")
    second = save_run(tmp_path, store, "b", "once", "second")
    assert "Unable to reserve cache with key k-once" in log_text(second)
    restored = restore_run(tmp_path, store, "c", "k-once")
    assert restored.events.log("build", 1) == ["first"]


def test_save_with_nothing_to_save_warns_and_succeeds(tmp_path, store):
    workspace = workspace_with(tmp_path, "a", {})
    outcome = run(job(SAVE_ONE.format(key="empty")), workspace, store)
    assert outcome.result.status == Status.SUCCESS
    assert any("Path Validation Error" in text for text in warnings(outcome))
    assert CacheStore(store, "acme/widgets").entries() == []


def test_globs_home_and_exclusions(tmp_path, store):
    files = {
        "pkg/a/build/x.o": "a-object",
        "pkg/a/src.c": "a-source",
        "pkg/b/build/y.o": "b-object",
        "pkg/b/.hidden": "hidden",
        "pkg/b/skip/big": "big",
        "other.txt": "not cached",
    }
    workspace = workspace_with(tmp_path, "a", files)
    home = tmp_path / "home"
    (home / ".cache" / "tool" / "unwanted").mkdir(parents=True)
    (home / ".cache" / "tool" / "kept").write_text("kept")
    (home / ".cache" / "tool" / "unwanted" / "junk").write_text("junk")
    save = """
- uses: actions/cache/save@v4
  with:
    path: |
      pkg/**/build
      pkg/b/*
      ! pkg/b/skip
      ~/.cache/tool
      !~/.cache/tool/unwanted
    key: globbed
"""
    assert run(job(save), workspace, store).result.status == Status.SUCCESS
    # A fresh workspace and an emptied HOME: what comes back is what was archived.
    import shutil

    shutil.rmtree(home)
    fresh = workspace_with(tmp_path, "b", {})
    restore = """
- uses: actions/cache/restore@v4
  with:
    path: |
      pkg/**/build
      pkg/b/*
      ! pkg/b/skip
      ~/.cache/tool
      !~/.cache/tool/unwanted
    key: globbed
"""
    outcome = run(job(restore), fresh, store)
    assert outcome.result.status == Status.SUCCESS, log_text(outcome)
    restored = sorted(str(p.relative_to(fresh)) for p in fresh.rglob("*") if p.is_file())
    assert restored == ["pkg/a/build/x.o", "pkg/b/.hidden", "pkg/b/build/y.o"]
    assert (home / ".cache" / "tool" / "kept").read_text() == "kept"
    assert not (home / ".cache" / "tool" / "unwanted").exists()


def test_inputs_for_other_platforms_and_uploads_are_accepted_and_change_nothing(tmp_path, store):
    workspace = workspace_with(tmp_path, "a", {"out/file": "data"})
    save = """
- uses: actions/cache/save@v4
  with:
    path: out
    key: k-cross
    enableCrossOsArchive: true
    upload-chunk-size: 1048576
"""
    saved = run(job(save), workspace, store)
    assert saved.result.status == Status.SUCCESS
    assert warnings(saved) == []
    # As on a Linux runner, the entry is the same with or without enableCrossOsArchive.
    restored = restore_run(tmp_path, store, "b", "k-cross", extra="enableCrossOsArchive: false")
    assert outputs(restored)["restore"]["cache-hit"] == "true"
    assert warnings(restored) == []


def test_an_unknown_input_is_warned_about(tmp_path, store):
    restored = restore_run(tmp_path, store, "a", "k", extra="paths: typo")
    assert any("unexpected input(s) paths" in text for text in warnings(restored))


@pytest.mark.parametrize(
    ("with_", "message"),
    [
        ("{path: out}", "Input required and not supplied: key"),
        ("{key: k}", "Input required and not supplied: path"),
        ("{path: out, key: 'a,b'}", "Key Validation Error: a,b cannot contain commas."),
    ],
)
def test_bad_inputs_fail_the_step_saying_where(tmp_path, store, with_, message):
    workspace = workspace_with(tmp_path, "a", {})
    text = job(f"- uses: actions/cache@v4\n  with: {with_}")
    outcome = run(text, workspace, store)
    assert outcome.result.status == Status.FAILURE
    assert outcome.result.jobs["build"].reason == f"ci.yml:7:15: actions/cache@v4: {message}"


def test_two_repositories_never_see_each_other_s_entries(tmp_path, store):
    save_run(tmp_path, store, "a", "shared-name", "mine", scope="acme/one")
    other = restore_run(tmp_path, store, "b", "k-shared-name", scope="acme/two")
    assert outputs(other)["restore"] == {"cache-primary-key": "k-shared-name"}
    same = restore_run(tmp_path, store, "c", "k-shared-name", scope="acme/one")
    assert same.events.log("build", 1) == ["mine"]


def test_two_jobs_saving_one_key_at_once_leave_one_whole_entry(tmp_path, store):
    workspace = workspace_with(tmp_path, "a", {})
    text = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        leg: [left, right]
    steps:
      - run: d=out/${{ matrix.leg }}; mkdir -p $d && head -c 3000000 /dev/urandom > $d/blob
      - uses: actions/cache/save@v4
        with: {path: out, key: shared}
"""
    outcome = run(text, workspace, store, max_parallel_jobs=2)
    assert outcome.result.status == Status.SUCCESS
    [entry] = CacheStore(store, "acme/widgets").entries()
    assert entry.key == "shared"
    fresh = workspace_with(tmp_path, "b", {})
    restored = run(
        job("- uses: actions/cache/restore@v4\n  with: {path: out, key: shared}"), fresh, store
    )
    assert restored.result.status == Status.SUCCESS, log_text(restored)
    blobs = sorted(fresh.glob("out/*/blob"))
    assert blobs and all(blob.stat().st_size == 3000000 for blob in blobs)


def test_a_later_pattern_brings_back_what_an_exclusion_removed(tmp_path, store):
    files = {"a/x": "x", "a/b/drop": "drop", "a/b/keep": "keep"}
    workspace = workspace_with(tmp_path, "a", files)
    save = """
- uses: actions/cache/save@v4
  with:
    path: |
      a
      !a/b
      a/b/keep
    key: order
"""
    assert run(job(save), workspace, store).result.status == Status.SUCCESS
    fresh = workspace_with(tmp_path, "b", {})
    restore = save.replace("cache/save", "cache/restore")
    assert run(job(restore), fresh, store).result.status == Status.SUCCESS
    restored = sorted(str(p.relative_to(fresh)) for p in fresh.rglob("*") if p.is_file())
    assert restored == ["a/b/keep", "a/x"]
