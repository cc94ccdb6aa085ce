"""One worker per directory, and what a killed one left running.

Steps run in sessions of their own, so they outlive a worker killed with SIGKILL
(a sandboxed job's processes die with their sandbox; unsandboxed ones do not).
Every step of this worker's jobs carries ``RUN_MARK_VARIABLE`` set to a mark
derived from the worker's directory; a worker starting on that directory ends
whatever still carries it, since no job of its own runs yet. The directory's
lock makes sure that no other live worker's steps carry the same mark.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path

logger = logging.getLogger("conveyor.worker")

# The variable the server's own steps carry too (``server/runs/execute.py``): one
# name for "a step of conveyor's", with values of the worker's own.
RUN_MARK_VARIABLE = "CONVEYOR_RUN_MARK"
LOCK_NAME = "worker.lock"


class DirectoryBusy(Exception):
    """Another worker holds this directory; ``pid`` is its process, when it said."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(pid)
        self.pid = pid


def worker_mark(directory: str | os.PathLike[str]) -> str:
    """The mark of every step run by a worker on ``directory``: opaque (steps see it)."""
    return hashlib.sha256(f"worker@{os.path.abspath(directory)}".encode()).hexdigest()[:32]


def lock_worker_directory(directory: Path) -> int:
    """Hold ``directory`` for this process (an open descriptor, kept for its life).

    Raises DirectoryBusy when another worker holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            text = os.read(descriptor, 32).decode(errors="replace").strip()
        finally:
            os.close(descriptor)
        raise DirectoryBusy(int(text) if text.isdigit() else None) from None
    os.ftruncate(descriptor, 0)
    os.write(descriptor, f"{os.getpid()}\n".encode())
    return descriptor


def end_leftover_processes(directory: str | os.PathLike[str]) -> int:
    """End the processes a previous worker on ``directory`` left; how many there were."""
    from conveyor.executors.process_tree import processes_with_env, terminate

    leftovers = processes_with_env(RUN_MARK_VARIABLE, {worker_mark(directory)})
    if leftovers:
        logger.warning("ending %d process(es) left by a previous worker", len(leftovers))
        terminate(leftovers, grace=2.5, kill_wait=2.0)
    return len(leftovers)
