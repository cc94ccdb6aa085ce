"""The bubblewrap sandbox, with real bwrap and real bash: what a job can and cannot reach."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.executors.base import StepCommand, StepExit
from conveyor.executors.sandbox import (
    SandboxExecutor,
    SandboxJobHost,
    SandboxPolicy,
    check_available,
)

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="scripts/setup installs it")

PATH = "/usr/local/bin:/usr/bin:/bin"


@pytest.fixture
def place() -> Iterator[Path]:
    """A directory other users can pass through (pytest's tmp_path is closed to them)."""
    path = Path(tempfile.mkdtemp(prefix="conveyor-sandbox-test-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def policy_for(place: Path, **options: object) -> SandboxPolicy:
    run_as = None
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        run_as = (nobody.pw_uid, nobody.pw_gid)
    return SandboxPolicy(run_as=run_as, state_dir=str(place / "jobs"), **options)  # type: ignore[arg-type]


def job(place: Path, **options: object) -> SandboxJobHost:
    workspace = place / "workspace"
    workspace.mkdir(exist_ok=True)
    policy = policy_for(place, **options)
    return SandboxExecutor(policy, check_available(policy)).prepare_job("build", str(workspace))


def run(host: SandboxJobHost, script: str) -> tuple[StepExit, str]:
    output: list[bytes] = []
    exit_ = host.run(
        StepCommand(
            argv=["bash", "-c", script],
            cwd=host.workspace,
            env={"PATH": PATH},
            on_output=output.append,
            timeout=30,
        )
    )
    return exit_, b"".join(output).decode()


def test_it_hides_everything_beside_the_workspace(place: Path):
    (place / "server-key").write_text("KEY-0123456789")
    host = job(place)
    try:
        exit_, out = run(host, f"cat {place}/server-key; ls /root /home; ls {place}")
    finally:
        host.close()
    assert exit_.exit_code == 0  # ls of the place works: it holds only the mount points
    assert "KEY-0123456789" not in out
    assert "No such file or directory" in out
    assert out.split("\n")[-3:-1] == ["jobs", "workspace"]  # no server-key beside them


def test_the_workspace_and_a_private_tmp_last_from_step_to_step(place: Path):
    host = job(place)
    try:
        first, _ = run(host, "echo built > artefact && echo kept > /tmp/note")
        second, out = run(host, "cat artefact /tmp/note")
    finally:
        host.close()
    assert (first.exit_code, second.exit_code) == (0, 0)
    assert out.split() == ["built", "kept"]
    assert (place / "workspace" / "artefact").read_text() == "built\n"
    assert not Path("/tmp/note").exists()


def test_a_step_sees_only_its_jobs_processes(place: Path):
    host = job(place)
    try:
        exit_, out = run(host, "ps -e -o comm=")
    finally:
        host.close()
    assert exit_.exit_code == 0
    seen = set(out.split())
    assert seen <= {"bwrap", "sleep", "bash", "ps"}, seen
    assert "python" not in out and "pytest" not in out


def test_it_cannot_lift_its_own_masks(place: Path):
    host = job(place)
    try:
        _, out = run(host, "umount /tmp; umount -l /proc; grep CapEff /proc/self/status")
    finally:
        host.close()
    assert "must be superuser" in out or "Operation not permitted" in out
    assert "CapEff:\t0000000000000000" in out


def test_as_root_it_lends_jobs_an_unprivileged_user(place: Path):
    if os.geteuid() != 0:
        pytest.skip("only a root caller lends another user")
    host = job(place)
    try:
        exit_, out = run(host, "id -u; cat /etc/shadow")
    finally:
        host.close()
    assert out.split()[0] == str(pwd.getpwnam("nobody").pw_uid)
    assert "Permission denied" in out
    assert exit_.exit_code != 0


def test_what_a_step_leaves_running_serves_the_next_and_ends_with_the_job(place: Path):
    host = job(place)
    marker = place / "workspace" / "alive"
    try:
        run(
            host,
            "(setsid bash -c 'while true; do date > alive; sleep 0.05; done' >/dev/null 2>&1 &)",
        )
        exit_, out = run(host, "sleep 0.3; ps -e -o args= | grep -c 'while true' ")
        assert exit_.exit_code == 0 and int(out.split()[0]) >= 1
    finally:
        host.close()
    before = marker.stat().st_mtime
    import time

    time.sleep(0.4)
    assert marker.stat().st_mtime == before  # nothing in the job's namespace survived


def test_without_network_a_step_has_only_loopback(place: Path):
    host = job(place, network=False)
    try:
        _, out = run(host, "cat /proc/net/dev")
    finally:
        host.close()
    interfaces = {line.split(":")[0].strip() for line in out.splitlines() if ":" in line}
    assert interfaces == {"lo"}


def test_the_job_holder_shows_steps_nothing_of_the_callers_environment(place: Path):
    os.environ["CONVEYOR_TEST_SERVER_ONLY"] = "do-not-leak"
    try:
        host = job(place)
        try:
            _, out = run(host, "cat /proc/1/environ | tr '\\0' '\\n'")
        finally:
            host.close()
    finally:
        del os.environ["CONVEYOR_TEST_SERVER_ONLY"]
    assert "do-not-leak" not in out


def test_handing_the_workspace_over_never_follows_a_link_out_of_it(place: Path):
    if os.geteuid() != 0:
        pytest.skip("only a root caller hands directories over")
    from conveyor.executors.sandbox import hand_over

    outside = place / "data"
    outside.mkdir()
    (outside / "keys").write_text("KEY")
    workspace = place / "workspace"
    (workspace / "sub").mkdir(parents=True)
    (workspace / "sub" / "to-data").symlink_to(outside)
    (workspace / "to-keys").symlink_to(outside / "keys")
    nobody = pwd.getpwnam("nobody")
    hand_over(str(workspace), nobody.pw_uid, nobody.pw_gid)
    assert (workspace / "sub").stat().st_uid == nobody.pw_uid
    assert os.lstat(workspace / "to-keys").st_uid == nobody.pw_uid
    assert outside.stat().st_uid == 0 and (outside / "keys").stat().st_uid == 0
