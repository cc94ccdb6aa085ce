"""An ssh:// target that cannot be deployed to: one clear line each, never a traceback,
against a real sshd on 127.0.0.1 (unknown or changed host key, a key the server
refuses, nothing listening, no such python, a path that cannot be written)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.deploy_projects import free_port
from tests.helpers import conveyor_env, run_conveyor
from tests.sshd import Sshd


def status(sshd: Sshd, tmp_path: Path, *options: str, target: str = "", **env: str):
    target = target or sshd.target(tmp_path / "srv")
    return run_conveyor(
        "deploy", "status", "--target", target, *options, cwd=tmp_path, env=conveyor_env(**env)
    )


def pinned(tmp_path: Path, line: str) -> str:
    path = tmp_path / "known_hosts"
    path.write_text(line)
    return str(path)


def assert_one_clear_line(result, said: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert said in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_pinned_host_key_and_the_client_key_let_in(sshd: Sshd, tmp_path: Path) -> None:
    result = status(
        sshd,
        tmp_path,
        *("--ssh-key", str(sshd.client_key)),
        *("--known-hosts", pinned(tmp_path, sshd.known_hosts_line())),
    )
    assert result.returncode == 0, result.stderr
    assert "no releases" in result.stdout


def test_without_options_known_hosts_and_keys_come_from_home(sshd: Sshd, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(sshd.client_key, home / ".ssh" / "id_ed25519")
    unknown = status(sshd, tmp_path, HOME=str(home), SSH_AUTH_SOCK="")
    assert_one_clear_line(unknown, f"the host key of [127.0.0.1]:{sshd.port} (ssh-ed25519 SHA256:")
    assert "is not known, refused: pin it with ssh-known-hosts" in unknown.stderr
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1" in unknown.stderr
    (home / ".ssh" / "known_hosts").write_text(sshd.known_hosts_line())
    known = status(sshd, tmp_path, HOME=str(home), SSH_AUTH_SOCK="")
    assert known.returncode == 0, known.stderr


def test_a_changed_host_key_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    result = status(
        sshd,
        tmp_path,
        *("--ssh-key", str(sshd.client_key)),
        *("--known-hosts", pinned(tmp_path, sshd.known_hosts_line(sshd.other_host_key))),
    )
    assert_one_clear_line(result, "is not the pinned one, refused")


def test_a_key_the_server_does_not_know_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    result = status(
        sshd,
        tmp_path,
        *("--ssh-key", str(sshd.stranger_key)),
        *("--known-hosts", pinned(tmp_path, sshd.known_hosts_line())),
    )
    assert_one_clear_line(result, f"127.0.0.1:{sshd.port} refused the ssh key")


def test_nothing_listening_is_said(sshd: Sshd, tmp_path: Path) -> None:
    port = free_port()
    result = status(
        sshd,
        tmp_path,
        *("--ssh-key", str(sshd.client_key)),
        target=f"ssh://{sshd.user}@127.0.0.1:{port}/srv/shop",
    )
    assert_one_clear_line(result, f"cannot reach {sshd.user}@127.0.0.1:{port}: connection refused")


@pytest.mark.parametrize(
    ("extra", "path", "said"),
    [
        (["--python", "/nowhere/python3"], "srv", "no /nowhere/python3 on"),
        ([], "/etc/hostname/srv", "cannot write to /etc/hostname/srv: Not a directory"),
    ],
)
def test_the_target_machine_must_have_python_and_a_writable_path(
    sshd: Sshd, tmp_path: Path, extra: list[str], path: str, said: str
) -> None:
    target = sshd.target(path if path.startswith("/") else tmp_path / path)
    result = run_conveyor(
        *("deploy", "--target", target, "--bind", f"127.0.0.1:{free_port()}"),
        *("--project-dir", str(tmp_path), "--ssh-key", str(sshd.client_key)),
        *("--known-hosts", pinned(tmp_path, sshd.known_hosts_line()), *extra),
        cwd=tmp_path,
    )
    assert_one_clear_line(result, said)
