"""``conveyor worker``'s settings: what is missing or wrong is said in one line, exit 2."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from tests.helpers import conveyor_env, run_conveyor

SETTINGS = {
    "CONVEYOR_BROKER_URL": "redis://127.0.0.1:6379/15",
    "CONVEYOR_SERVER_URL": "http://127.0.0.1:9",
    "CONVEYOR_WORKER_TOKEN": "a-token",
}


def _worker(tmp_path: Path, *args: str, **settings: str) -> tuple[int, str]:
    env = conveyor_env(**{**SETTINGS, **settings})
    for name in [name for name, value in settings.items() if value == ""]:
        del env[name]
    result = run_conveyor("worker", "--dir", str(tmp_path / "w"), *args, cwd=tmp_path, env=env)
    return result.returncode, result.stderr


@pytest.mark.parametrize(
    ("args", "settings", "said"),
    [
        ((), {"CONVEYOR_BROKER_URL": ""}, "set CONVEYOR_BROKER_URL"),
        (
            (),
            {"CONVEYOR_SERVER_URL": "", "CONVEYOR_WORKER_TOKEN": ""},
            "set CONVEYOR_SERVER_URL and CONVEYOR_WORKER_TOKEN",
        ),
        ((), {"CONVEYOR_SERVER_URL": "127.0.0.1:8000"}, "not an http:// or https:// URL"),
        ((), {"CONVEYOR_BROKER_URL": "localhost"}, "not a broker URL"),
        (("--concurrency", "0"), {}, "--concurrency must be 1 or more"),
        (("--name", " "), {}, "--name must not be empty"),
    ],
)
def test_bad_settings_are_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], settings: dict[str, str], said: str
) -> None:
    code, stderr = _worker(tmp_path, *args, **settings)
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith("conveyor worker: "), stderr
    assert said in stderr
    assert "a-token" not in stderr


def test_a_directory_another_worker_holds_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "w"
    directory.mkdir()
    with open(directory / "worker.lock", "w") as held:
        held.write("4242\n")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        code, stderr = _worker(tmp_path)
    assert code == 2
    assert stderr.count("\n") == 1
    assert "another worker (pid 4242) uses the directory" in stderr


def test_the_command_is_listed(tmp_path: Path) -> None:
    result = run_conveyor("worker", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "CONVEYOR_BROKER_URL" in result.stdout and "--no-sandbox" in result.stdout
