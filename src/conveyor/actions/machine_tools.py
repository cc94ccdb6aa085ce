"""Asking this machine's programs what they are, cheaply: once per file per process.

Interpreters, node and uv are found by listing directories; a program whose version
its place does not say is run once (``--version``, a one-line script) and the answer
kept, keyed by the file's identity, so a replaced binary is asked again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_answers: dict[tuple[str, str, int, int, int], object] = {}
_lock = threading.Lock()


def ask_once(kind: str, executable: str, ask: Callable[[str], T | None]) -> T | None:
    """``ask(real path)``, or what it answered before for the same file and ``kind``."""
    real = os.path.realpath(executable)
    try:
        info = os.stat(real)
    except OSError:
        return None
    key = (kind, real, info.st_ino, info.st_mtime_ns, info.st_size)
    with _lock:
        if key in _answers:
            return _answers[key]  # type: ignore[return-value]
    answer = ask(real)
    with _lock:
        _answers[key] = answer
    return answer


def output_of(argv: list[str]) -> str | None:
    """The standard output of ``argv`` when it succeeds, run with a minimal environment."""
    try:
        completed = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=15,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout if completed.returncode == 0 else None


def list_directory(path: str) -> list[str]:
    """The names in ``path``, sorted; none when it is not a readable directory."""
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def outside_virtual_environments(path: str) -> list[str]:
    """The entries of a PATH value, less the ``bin`` of virtual environments (a
    project's, not the machine's)."""
    return [
        entry
        for entry in path.split(os.pathsep)
        if entry
        and not os.path.exists(os.path.join(os.path.dirname(entry.rstrip("/")), "pyvenv.cfg"))
    ]


def find_uv(environ: dict[str, str]) -> str | None:
    """The machine's uv: on PATH (virtual environments excepted), ~/.local/bin, ~/.cargo/bin."""
    home = environ.get("HOME") or os.path.expanduser("~")
    directories = outside_virtual_environments(environ.get("PATH", ""))
    directories += [os.path.join(home, ".local", "bin"), os.path.join(home, ".cargo", "bin")]
    return shutil.which("uv", path=os.pathsep.join(directories))
