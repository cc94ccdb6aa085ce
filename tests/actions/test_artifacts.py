"""actions/upload-artifact and actions/download-artifact, run by the engine with real
processes: each documented input changes what happens."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

import pytest

from conveyor.actions.artifact_store import ArtifactStore
from conveyor.engine.events import Annotation, RunArtifacts, Status
from conveyor.executors.local import LocalExecutor
from tests.engine.helpers import run_yaml


def run(workspace: Path, store: Path, text: str, **options):
    options.setdefault("executor", LocalExecutor())
    return run_yaml(text, str(workspace), store_dir=str(store), run_id="42", **options)


def archive_names(path: str) -> list[str]:
    with tarfile.open(path) as archive:
        return sorted(m.name for m in archive.getmembers() if m.isfile())


def kept(store: Path) -> ArtifactStore:
    return ArtifactStore(str(store / "runs" / "42" / "artifacts"))


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    (path / "out" / "sub").mkdir(parents=True)
    (path / "out" / "a.txt").write_text("a\n")
    (path / "out" / "sub" / "b.txt").write_text("b\n")
    (path / "out" / ".hidden").write_text("hidden\n")
    return path


def test_upload_in_one_job_download_in_a_needs_job_with_outputs(workspace, store):
    outcome = run(
        workspace,
        store,
        """
        on: push
        jobs:
          build:
            runs-on: x
            outputs:
              id: ${{ steps.up.outputs.artifact-id }}
              digest: ${{ steps.up.outputs.artifact-digest }}
              url: ${{ steps.up.outputs.artifact-url }}
            steps:
              - id: up
                uses: actions/upload-artifact@v4
                with:
                  name: report
                  path: out/
          use:
            needs: build
            runs-on: x
            steps:
              - id: down
                uses: actions/download-artifact@v4
                with:
                  name: report
                  path: got
              - run: echo "at ${{ steps.down.outputs.download-path }}"
        """,
    )
    assert outcome.result.status == Status.SUCCESS, outcome.events.log("build")
    artifact = kept(store).get("report")
    assert artifact is not None
    assert archive_names(artifact.path) == ["a.txt", "sub/b.txt"]  # relative to out/
    outputs = outcome.result.jobs["build"].outputs
    assert outputs["id"] == str(artifact.id)
    digest = hashlib.sha256(Path(artifact.path).read_bytes()).hexdigest()
    assert outputs["digest"] == digest == artifact.digest
    assert outputs["url"].startswith("file://") and outputs["url"].endswith("artifact.tar.gz")
    assert files_under(workspace / "got") == ["a.txt", "sub/b.txt"]
    assert outcome.events.log("use", 1) == [f"at {workspace / 'got'}"]
    listed = [e for e in outcome.events.events if isinstance(e, RunArtifacts)]
    assert [a["name"] for a in listed[0].artifacts] == ["report"]
    assert listed[0].artifacts[0]["path"] == artifact.path


def test_paths_globs_exclusions_and_the_least_common_ancestor(workspace, store):
    (workspace / "build" / "one").mkdir(parents=True)
    (workspace / "build" / "two" / "deep").mkdir(parents=True)
    (workspace / "build" / "one" / "x.txt").write_text("x")
    (workspace / "build" / "two" / "y.log").write_text("y")
    (workspace / "build" / "two" / "deep" / "z.log").write_text("z")
    (workspace / "build" / "two" / "skip.tmp").write_text("t")
    (workspace / "build" / "two" / "deep" / "skip.log.tmp").write_text("t")
    outcome = run(
        workspace,
        store,
        """
        on: push
        jobs:
          build:
            runs-on: x
            steps:
              - uses: actions/upload-artifact@v4
                with:
                  name: mixed
                  path: |
                    build/one/x.txt
                    # a comment line
                    build/two/**/*
                    !build/**/*.tmp
        """,
    )
    assert outcome.result.status == Status.SUCCESS, outcome.events.log("build")
    artifact = kept(store).get("mixed")
    assert artifact is not None
    assert archive_names(artifact.path) == ["one/x.txt", "two/deep/z.log", "two/y.log"]


@pytest.mark.parametrize(
    ("choice", "status", "level"),
    [
        ("error", Status.FAILURE, "error"),
        ("warn", Status.SUCCESS, "warning"),
        ("ignore", Status.SUCCESS, None),
    ],
)
def test_if_no_files_found(workspace, store, choice, status, level):
    outcome = run(
        workspace,
        store,
        f"""
        on: push
        jobs:
          build:
            runs-on: x
            steps:
              - uses: actions/upload-artifact@v4
                with:
                  path: nothing/here
                  if-no-files-found: {choice}
        """,
    )
    assert outcome.result.status == status
    log = "\n".join(outcome.events.log("build", 0))
    assert "No files were found with the provided path: nothing/here" in log
    warnings = [e for e in outcome.events.events if isinstance(e, Annotation)]
    assert [w.level for w in warnings] == (["warning"] if level == "warning" else [])
    if level == "error":
        assert "##[error]" in log
    assert kept(store).list() == []


@pytest.mark.parametrize(
    ("include", "expected"),
    [("false", ["a.txt", "sub/b.txt"]), ("true", [".hidden", "a.txt", "sub/b.txt"])],
)
def test_hidden_files_are_left_out_unless_asked_for(workspace, store, include, expected):
    (workspace / "out" / ".git").mkdir()
    (workspace / "out" / ".git" / "config").write_text("x")
    if include == "true":
        expected = sorted([*expected, ".git/config"])
    outcome = run(
        workspace,
        store,
        f"""
        on: push
        jobs:
          build:
            runs-on: x
            steps:
              - uses: actions/upload-artifact@v4
                with:
                  path: out
                  include-hidden-files: {include}
        """,
    )
    assert outcome.result.status == Status.SUCCESS
    assert archive_names(kept(store).get("artifact").path) == expected


def test_compression_level_is_used(workspace, store):
    (workspace / "big").mkdir()
    (workspace / "big" / "text.txt").write_text("conveyor " * 200_000)
    outcome = run(
        workspace,
        store,
        """
        on: push
        jobs:
          build:
            runs-on: x
            steps:
              - uses: actions/upload-artifact@v4
                with: {name: stored, path: big, compression-level: 0}
              - uses: actions/upload-artifact@v4
                with: {name: squeezed, path: big, compression-level: 9}
        """,
    )
    assert outcome.result.status == Status.SUCCESS
    stored, squeezed = kept(store).get("stored"), kept(store).get("squeezed")
    assert stored.size > 1_800_000 > 100_000 > squeezed.size


def test_retention_days_expire_the_artifact(workspace, store):
    outcome = run(
        workspace,
        store,
        """
        on: push
        jobs:
          build:
            runs-on: x
            steps:
              - uses: actions/upload-artifact@v4
                with: {name: short, path: out, retention-days: 2}
              - uses: actions/upload-artifact@v4
                with: {name: long, path: out}
        """,
    )
    assert outcome.result.status == Status.SUCCESS
    short = kept(store).get("short")
    assert short.expires_at == pytest.approx(short.created_at + 2 * 86400)
    assert kept(store).get("long").expires_at is None
    assert kept(store).remove_expired(now=short.created_at + 86400) == []
    assert kept(store).remove_expired(now=short.created_at + 3 * 86400) == ["short"]
    assert [a.name for a in kept(store).list()] == ["long"]


def test_names_are_unique_in_a_run_unless_overwrite(workspace, store):
    outcome = run(
        workspace,
        store,
        """
        on: push
        jobs:
          build:
            runs-on: x
            steps:
              - uses: actions/upload-artifact@v4
                with: {name: same, path: out/a.txt}
              - uses: actions/upload-artifact@v4
                continue-on-error: true
                with: {name: same, path: out/sub}
              - run: echo first kept
              - uses: actions/upload-artifact@v4
                with: {name: same, path: out/sub, overwrite: true}
        """,
    )
    assert outcome.result.status == Status.SUCCESS
    steps = outcome.result.jobs["build"].steps
    assert steps[1].outcome == Status.FAILURE
    assert "already uploaded in this run" in (steps[1].reason or "")
    artifact = kept(store).get("same")
    assert archive_names(artifact.path) == ["b.txt"]
    assert [a.name for a in kept(store).list()] == ["same"]


def test_archive_false_names_the_artifact_after_its_one_file(workspace, store):
    outcome = run(
        workspace,
        store,
        """
        on: push
        jobs:
          build:
            runs-on: x
            steps:
              - uses: actions/upload-artifact@v7
                with: {name: ignored, path: out/sub/*.txt, archive: false}
        """,
    )
    assert outcome.result.status == Status.SUCCESS
    assert [a.name for a in kept(store).list()] == ["b.txt"]


UPLOAD_THREE = """
on: push
jobs:
  build:
    runs-on: x
    steps:
      - run: mkdir -p l1 l2 o && echo 1 > l1/one.txt && echo 2 > l2/two.txt && echo o > o/other.txt
      - uses: actions/upload-artifact@v4
        with: {name: logs-1, path: l1}
      - uses: actions/upload-artifact@v4
        with: {name: logs-2, path: l2}
      - uses: actions/upload-artifact@v4
        with: {name: other, path: o}
  use:
    needs: build
    runs-on: x
    steps:
      - uses: actions/download-artifact@v4
        with:
"""


@pytest.mark.parametrize(
    ("with_", "expected"),
    [
        ("pattern: logs-*\n          path: d", ["logs-1/one.txt", "logs-2/two.txt"]),
        (
            "pattern: logs-*\n          merge-multiple: true\n          path: d",
            ["one.txt", "two.txt"],
        ),
        ("path: d", ["logs-1/one.txt", "logs-2/two.txt", "other/other.txt"]),
        ("artifact-ids: 3,1\n          path: d", ["logs-1/one.txt", "other/other.txt"]),
        ("artifact-ids: 2\n          path: d", ["two.txt"]),
    ],
)
def test_download_pattern_merge_multiple_and_ids(tmp_path, store, with_, expected):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    outcome = run(workspace, store, UPLOAD_THREE + f"          {with_}\n")
    assert outcome.result.status == Status.SUCCESS, outcome.events.log("use")
    assert files_under(workspace / "d") == expected


@pytest.mark.parametrize(
    ("with_", "message"),
    [
        ("name: missing", "Artifact not found for name: missing"),
        ("run-id: 7", "run-id 7: only this run's artifacts"),
        ("name: other\n          artifact-ids: 1", "either 'name' or 'artifact-ids'"),
        ("repository: someone/else", "only this repository's artifacts"),
    ],
)
def test_download_refusals_are_clear(tmp_path, store, with_, message):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    outcome = run(workspace, store, UPLOAD_THREE + f"          {with_}\n")
    assert outcome.result.status == Status.FAILURE
    assert message in (outcome.result.jobs["use"].steps[0].reason or "")


def test_a_bad_name_or_input_names_the_workflow_position(workspace, store):
    outcome = run(
        workspace,
        store,
        """
        on: push
        jobs:
          build:
            runs-on: x
            steps:
              - uses: actions/upload-artifact@v4
                continue-on-error: true
                with: {name: "a/b", path: out}
              - uses: actions/upload-artifact@v4
                with: {path: out, compression-level: 11}
        """,
    )
    steps = outcome.result.jobs["build"].steps
    assert steps[0].reason.startswith("ci.yml:9:") and "'/'" in steps[0].reason
    assert "compression-level" in steps[1].reason and "from 0 to 9" in steps[1].reason


def test_a_link_the_job_swaps_in_for_its_archive_is_not_followed(tmp_path):
    from conveyor.actions.runner_temp_files import RunnerTempError, open_from_runner_temp

    secret = tmp_path / "secret"
    secret.write_text("the server's key")
    runner_temp = tmp_path / "runner_temp"
    runner_temp.mkdir()
    (runner_temp / "archive.tar.gz").symlink_to(secret)
    with open_from_runner_temp(str(runner_temp), "archive.tar.gz") as fd:
        assert fd is None
    assert not (runner_temp / "archive.tar.gz").exists()
    os.mkfifo(runner_temp / "fifo")
    with open_from_runner_temp(str(runner_temp), "fifo") as fd:
        assert fd is None
    # runner.temp itself replaced by a link to the data directory
    shutil.rmtree(runner_temp)
    runner_temp.symlink_to(tmp_path)
    with pytest.raises(RunnerTempError), open_from_runner_temp(str(runner_temp), "secret"):
        pass
    assert secret.read_text() == "the server's key"


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="scripts/setup installs it")
def test_in_the_sandbox_a_link_to_a_file_outside_reaches_nothing(store):
    from conveyor.executors.sandbox import SandboxExecutor, check_available
    from tests.executors.test_sandbox import policy_for

    place = Path(tempfile.mkdtemp(prefix="conveyor-artifact-test-"))
    try:
        place.chmod(0o711)
        outside = place / "outside"
        outside.mkdir()
        (outside / "shadow").write_text("root:secret-hash:19000::::::\n")
        workspace = place / "workspace"
        (workspace / "out").mkdir(parents=True)
        (workspace / "out" / "real.txt").write_text("fine\n")
        (workspace / "out" / "shadow").symlink_to(outside / "shadow")
        policy = policy_for(place)
        executor = SandboxExecutor(policy, check_available(policy))
        outcome = run(
            workspace,
            store,
            """
            on: push
            jobs:
              build:
                runs-on: x
                steps:
                  - uses: actions/upload-artifact@v4
                    with: {name: linked, path: out}
            """,
            executor=executor,
            base_env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
        )
        assert outcome.result.status == Status.SUCCESS, outcome.events.log("build")
        artifact = kept(store).get("linked")
        assert archive_names(artifact.path) == ["real.txt"]
        with tarfile.open(artifact.path) as archive:
            data = b"".join(
                archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()
            )
        assert b"secret-hash" not in data
        assert "not a readable file" in "\n".join(outcome.events.log("build", 0))
    finally:
        shutil.rmtree(place, ignore_errors=True)


def test_the_store_keeps_an_upload_whole_or_not_at_all(tmp_path):
    store = ArtifactStore(str(tmp_path / "artifacts"))
    source = tmp_path / "a.tar.gz"
    source.write_bytes(b"x" * 100)
    with open(source, "rb") as handle:
        first = store.add("one", handle.fileno(), overwrite=False, files=1, job_key="j")
    with open(source, "rb") as handle, pytest.raises(Exception, match="already uploaded"):
        store.add("one", handle.fileno(), overwrite=False, files=1, job_key="j")
    assert [a.id for a in store.list()] == [first.id]
    leftovers = [n for n in os.listdir(store.root) if n.startswith(":staging")]
    assert leftovers == []
    meta = json.loads((tmp_path / "artifacts" / "one" / "artifact.json").read_text())
    assert meta["size"] == 100


@pytest.mark.parametrize("kind", ["parent", "absolute", "symlink"])
def test_a_crafted_archive_is_not_unpacked_outside_the_destination(tmp_path, store, kind):
    """A job may hand in any archive as its upload; the job that downloads it unpacks
    only files and directories inside its destination."""
    import io

    workspace = tmp_path / "ws"
    workspace.mkdir()
    crafted = tmp_path / "crafted.tar.gz"
    with tarfile.open(crafted, "w:gz") as archive:
        member = tarfile.TarInfo(
            {"parent": "../escape.txt", "absolute": str(tmp_path / "abs.txt"), "symlink": "link"}[
                kind
            ]
        )
        if kind == "symlink":
            member.type = tarfile.SYMTYPE
            member.linkname = str(tmp_path / "outside.txt")
            archive.addfile(member)
        else:
            member.size = 5
            archive.addfile(member, io.BytesIO(b"owned"))
    with open(crafted, "rb") as handle:
        kept(store).add("evil", handle.fileno(), overwrite=False, files=1, job_key="x")
    outcome = run(
        workspace,
        store,
        """
        on: push
        jobs:
          use:
            runs-on: x
            steps:
              - uses: actions/download-artifact@v4
                with: {name: evil, path: d/inner}
              - run: echo link says $(cat d/inner/link 2>/dev/null)
        """,
    )
    assert not (workspace / "d" / "escape.txt").exists()
    assert not (tmp_path / "abs.txt").exists()
    status = outcome.result.jobs["use"].steps[0].status
    if kind == "symlink":
        # Refused outright, or unpacked without the link (tarfile's data filter).
        assert not (workspace / "d" / "inner" / "link").is_symlink()
    elif kind == "absolute":
        # Refused, or its leading "/" dropped: inside the destination either way.
        inside = workspace / "d" / "inner" / str(tmp_path / "abs.txt").lstrip("/")
        assert status == Status.FAILURE or inside.read_text() == "owned"
    else:
        assert status == Status.FAILURE


@pytest.mark.parametrize(
    "uses",
    [
        "actions/upload-artifact@v3",
        "actions/upload-artifact@0b2256b8c012f0828dc542b3febcab082c67f72b",
        "Actions/Upload-Artifact@v7",
    ],
)
def test_any_version_or_pin_is_the_built_in(workspace, store, uses):
    outcome = run(
        workspace,
        store,
        f"""
        on: push
        jobs:
          build:
            runs-on: x
            steps:
              - uses: {uses}
                with: {{path: out/a.txt}}
        """,
    )
    assert outcome.result.status == Status.SUCCESS
    assert archive_names(kept(store).get("artifact").path) == ["a.txt"]


def test_an_explicitly_named_hidden_file_is_left_out_too(workspace, store):
    (workspace / ".coverage").write_text("data")
    outcome = run(
        workspace,
        store,
        """
        on: push
        jobs:
          build:
            runs-on: x
            steps:
              - uses: actions/upload-artifact@v4
                with: {name: cov, path: .coverage, if-no-files-found: error}
        """,
    )
    assert outcome.result.status == Status.FAILURE
    assert "1 hidden file(s) left out" in "\n".join(outcome.events.log("build", 0))
