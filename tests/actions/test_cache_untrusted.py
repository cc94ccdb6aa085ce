"""What a job may plant (links in runner.temp or the workspace, a crafted archive) never
makes the engine read or write outside, nor a restore write outside its roots."""

from __future__ import annotations

import io
import os
import pwd
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.actions.cache_store import CacheStore, cache_version
from conveyor.engine.events import Status
from conveyor.executors.sandbox import SandboxExecutor, SandboxPolicy, check_available
from tests.actions.test_cache import job, log_text, run, warnings, workspace_with


@pytest.fixture
def place() -> Iterator[Path]:
    """A directory the sandbox's user (nobody, when the tests run as root) can pass
    through: pytest's own tmp_path is closed to other users."""
    path = Path(tempfile.mkdtemp(prefix="conveyor-cache-test-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def sandbox(place: Path) -> SandboxExecutor:
    run_as = None
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        run_as = (nobody.pw_uid, nobody.pw_gid)
    policy = SandboxPolicy(run_as=run_as, state_dir=str(place / "jobs"))
    return SandboxExecutor(policy, check_available(policy))


needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="scripts/setup installs it")


@needs_bwrap
def test_a_sandboxed_job_restores_from_a_copy_and_a_link_in_runner_temp_gets_nothing(
    tmp_path, place
):
    """A sandboxed job cannot see the store: the engine copies the archive into
    runner.temp, never through a link the job left there."""
    store = str(tmp_path / "store")
    restore = "- uses: actions/cache/restore@v4\n  with: {path: out, key: k}"
    saved = run(
        job("- uses: actions/cache/save@v4\n  with: {path: out, key: k}"),
        workspace_with(place, "a", {"out/f": "data"}),
        store,
        executor=sandbox(place),
    )
    assert saved.result.status == Status.SUCCESS, log_text(saved)
    copied = run(
        job(restore, "- run: cat out/f"),
        workspace_with(place, "b", {}),
        store,
        executor=sandbox(place),
    )
    assert copied.result.status == Status.SUCCESS, log_text(copied)
    assert copied.events.log("build", 1) == ["data"]

    outside = place / "outside"
    outside.mkdir(mode=0o777)
    outside.chmod(0o777)
    swap = '- run: rm -rf "$RUNNER_TEMP" && ln -s ' + str(outside) + ' "$RUNNER_TEMP"'
    outcome = run(
        job(swap, restore), workspace_with(place, "c", {}), store, executor=sandbox(place)
    )
    assert outcome.result.status == Status.SUCCESS
    assert list(outside.iterdir()) == []
    assert any("Failed to restore" in text for text in warnings(outcome))


@needs_bwrap
def test_a_runner_temp_swapped_for_a_link_before_the_save_saves_nothing(tmp_path, place):
    store = str(tmp_path / "store")
    outside = place / "outside"
    outside.mkdir()
    outside.chmod(0o777)
    swap = '- run: rm -rf "$RUNNER_TEMP" && ln -s ' + str(outside) + ' "$RUNNER_TEMP"'
    cache = "- uses: actions/cache@v4\n  with: {path: out, key: k}"
    outcome = run(
        job(cache, swap),
        workspace_with(place, "a", {"out/f": "x"}),
        store,
        executor=sandbox(place),
    )
    assert outcome.result.status == Status.SUCCESS
    assert CacheStore(store, "acme/widgets").entries() == []
    assert any("Failed to save" in text for text in warnings(outcome))


def test_a_link_in_the_cached_paths_is_kept_as_a_link_never_followed(tmp_path):
    store = str(tmp_path / "store")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key").write_text("do not copy")
    workspace = workspace_with(tmp_path, "a", {})
    (workspace / "out").symlink_to(secret)
    save = "- uses: actions/cache/save@v4\n  with: {path: out, key: k}"
    assert run(job(save), workspace, store).result.status == Status.SUCCESS
    (secret / "key").unlink()
    fresh = workspace_with(tmp_path, "b", {})
    restore = "- uses: actions/cache/restore@v4\n  with: {path: out, key: k}"
    assert run(job(restore), fresh, store).result.status == Status.SUCCESS
    assert (fresh / "out").is_symlink()
    assert not (secret / "key").exists()


def crafted_archive(tmp_path: Path, members: dict[str, bytes]) -> Path:
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    path = tmp_path / "crafted.tar.zst"
    subprocess.run(["zstd", "-q", "-o", str(path)], input=plain.getvalue(), check=True)
    return path


@pytest.mark.skipif(shutil.which("zstd") is None, reason="the crafted archive is zstd's")
def test_a_crafted_entry_cannot_write_outside_the_roots_its_paths_name(tmp_path):
    """An earlier run of the repository could have saved any archive: restoring it
    writes only below the workspace (the only root ``path: out`` names)."""
    store = str(tmp_path / "store")
    victim = tmp_path / "victim"
    members = {
        "workspace/out/ok": b"fine",
        "workspace/../../victim-dotdot": b"x",
        f"root{victim}": b"x",
        f"{victim}-absolute": b"x",
        "home/.bashrc": b"x",
    }
    source = crafted_archive(tmp_path, members)
    fd = os.open(source, os.O_RDONLY)
    try:
        entry = CacheStore(store, "acme/widgets").save(
            "k", cache_version(["out"], "zstd"), fd, ".tar.zst"
        )
    finally:
        os.close(fd)
    assert entry.saved
    workspace = workspace_with(tmp_path, "ws", {})
    restore = "- uses: actions/cache/restore@v4\n  with: {path: out, key: k}"
    outcome = run(job(restore, "- run: cat out/ok"), workspace, store)
    assert outcome.result.status == Status.SUCCESS, log_text(outcome)
    home = tmp_path / "home"
    assert not victim.exists()
    assert not list(tmp_path.glob("victim*"))
    assert not (home / ".bashrc").exists()
    assert not list(tmp_path.rglob("victim-dotdot"))
    # tar refused the bad members, so the restore is reported as failed (a miss).
    assert any("Failed to restore" in text for text in warnings(outcome))
