"""Docker actions (``docker://image``, ``runs.using: docker``): they need a Docker engine."""

from __future__ import annotations

import shutil
import subprocess

_PROBE_SECONDS = 10


def docker_engine_problem() -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    docker = shutil.which("docker")
    if docker is None:
        return "no docker command on PATH"
    try:
        probe = subprocess.run(
            [docker, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=_PROBE_SECONDS,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"`docker version` did not answer in {_PROBE_SECONDS} s"
    except OSError as error:
        return f"cannot run {docker}: {error}"
    if probe.returncode != 0:
        lines = [line.strip() for line in probe.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else f"`docker version` exited with {probe.returncode}"
    return None


def docker_action_problem(uses: str) -> str:
    """Why the Docker action ``uses`` cannot run here."""
    problem = docker_engine_problem()
    if problem is not None:
        return f"Docker actions need a Docker engine; none found ({problem})"
    return (
        f"{uses} is a Docker action; running Docker actions is not supported yet, "
        "even with a Docker engine present"
    )
