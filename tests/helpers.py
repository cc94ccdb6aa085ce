"""Helpers for tests: run the real `conveyor` command in real git repositories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = str(Path(sys.executable).parent)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def log_lines(self, step: int | None = None) -> list[str]:
        return [
            e["line"]
            for e in self.events()
            if e["type"] == "log" and (step is None or e["step"] == step)
        ]


def conveyor_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # Steps that call `python` get this venv's interpreter, which has Django.
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env.pop("GITHUB_ACTIONS", None)
    # The server's tests configure Django in this process; a project's own
    # `manage.py` must not inherit that configuration.
    for name in list(env):
        if name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL") or name.startswith("CONVEYOR_"):
            del env[name]
    env.update(extra)
    return env


def run_conveyor(
    *args: str, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> Result:
    completed = subprocess.run(
        [sys.executable, "-m", "conveyor", *args],
        cwd=cwd,
        env=env or conveyor_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def terminate(process: subprocess.Popen, grace_seconds: float = 10) -> None:
    """SIGTERM, then SIGKILL if ``process`` has not ended after ``grace_seconds``."""
    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
