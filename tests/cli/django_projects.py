"""Stock Django projects made by the real django-admin of the test venv, for `conveyor init`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import VENV_BIN, conveyor_env, git


def startproject(target: Path, app: str = "blog") -> Path:
    """`django-admin startproject mysite .` and `manage.py startapp`, in a git repository."""
    target.mkdir(parents=True, exist_ok=True)
    admin = str(Path(VENV_BIN) / "django-admin")
    # The project's own settings, not the server's that server tests leave in os.environ.
    env = conveyor_env()
    subprocess.run([admin, "startproject", "mysite", "."], cwd=target, check=True, env=env)
    python = str(Path(VENV_BIN) / "python")
    subprocess.run([python, "manage.py", "startapp", app], cwd=target, check=True, env=env)
    git("init", "-q", "-b", "main", cwd=target)
    return target


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)
