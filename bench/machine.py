"""What machine and which tool versions a result came from."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def _first_line(command: list[str], cwd: Path | None = None) -> str:
    try:
        completed = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=30, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unavailable ({error})"
    text = (completed.stdout or completed.stderr).strip()
    return text.splitlines()[0] if text else f"unavailable (exit {completed.returncode})"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total() -> str:
    # `free -h` is what the README asks for; its "Mem:" line's total column.
    line = next(
        (row for row in _free_rows() if row.startswith("Mem:")), "Mem: unknown",
    )
    return line.split()[1]


def _free_rows() -> list[str]:
    try:
        completed = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False)
    except OSError:
        return []
    return completed.stdout.splitlines()


def describe_machine() -> dict[str, str]:
    return {
        "cores (nproc)": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "memory (free -h)": _memory_total(),
        "kernel": platform.release(),
        "python3": _first_line(["python3", "--version"]),
        "load average at start": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def describe_versions(tools: dict[str, list[str]], repo_dir: Path) -> dict[str, str]:
    """One line per tool: its own --version, and conveyor's commit."""
    versions: dict[str, str] = {}
    for name, version_command in tools.items():
        versions[name] = _first_line(version_command)
    commit = _first_line(["git", "log", "-1", "--format=%h %s"], cwd=repo_dir)
    versions["conveyor"] = f"commit {commit}"
    return versions
