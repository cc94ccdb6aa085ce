"""Finding and ending every process a step started, including those that escaped.

A step runs as the leader of its own session and process group, so one
``killpg`` reaches most of what it started. Three kinds of process slip past:

- descendants that called ``setsid``/``setpgid`` (daemons, ``setsid cmd &``):
  found through the parent links with psutil while their ancestors live;
- such escapees whose parents already exited (reparented to init, so no longer
  descendants): found when they still hold the step's output pipe, by scanning
  ``/proc/*/fd`` for the pipe's inode (Linux only; elsewhere they are missed);
- escapees that neither have a living ancestor in the step nor hold the pipe:
  found only through their environment, as GitHub's runner finds a job's
  orphans: by the ``RUNNER_TRACKING_ID`` the step was given (the executor does
  not add it - a step gets exactly the env the engine built - so this works
  when the engine sets it, as GitHub does).

psutil is imported lazily: the CLI must start fast, and most steps end without
needing it.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

_PROC = "/proc"


def group_exists(pgid: int) -> bool:
    """Whether any process (zombies included) is still in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a member we may not signal is still a member
    return True


def signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # empty group, or only members we may not touch: nothing to do


def descendants(roots: Iterable[int]) -> list[psutil.Process]:
    """Every living descendant of the ``roots`` pids, whatever session or group it moved to.

    One pass over the process table, however many roots.
    """
    import psutil

    children_of: dict[int, list[int]] = {}
    for process in psutil.process_iter(["ppid"]):
        parent = process.info["ppid"]
        if parent is not None:
            children_of.setdefault(parent, []).append(process.pid)
    found: list[psutil.Process] = []
    seen: set[int] = set()
    pending = list(roots)
    while pending:
        for child in children_of.get(pending.pop(), ()):
            if child in seen:
                continue
            seen.add(child)
            pending.append(child)
            try:
                found.append(psutil.Process(child))
            except psutil.Error:
                continue  # exited while we looked
    return found


def group_members(pgid: int) -> list[psutil.Process]:
    """Processes of group ``pgid`` (found by scanning the process table)."""
    import psutil

    members = []
    for pid in psutil.pids():
        try:
            if os.getpgid(pid) == pgid:
                members.append(psutil.Process(pid))
        except (OSError, psutil.Error):
            continue  # exited while we looked
    return members


def pipe_holders(pipe_inode: int) -> list[psutil.Process]:
    """Other processes holding an end of the pipe with inode ``pipe_inode`` open.

    Linux only (reads ``/proc/<pid>/fd``); returns [] elsewhere. Processes of
    other users cannot be inspected and are skipped.
    """
    import psutil

    if not os.path.isdir(_PROC):
        return []
    wanted = f"pipe:[{pipe_inode}]"
    ourselves = os.getpid()
    holders = []
    with os.scandir(_PROC) as entries:
        for entry in entries:
            if not entry.name.isdigit() or int(entry.name) == ourselves:
                continue
            try:
                if _holds(f"{entry.path}/fd", wanted):
                    holders.append(psutil.Process(int(entry.name)))
            except (OSError, psutil.Error):
                continue  # exited, or not ours to inspect
    return holders


def _holds(fd_dir: str, link_target: str) -> bool:
    with os.scandir(fd_dir) as descriptors:
        return any(os.readlink(fd.path) == link_target for fd in descriptors)


def process_group(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except OSError:
        return None


def is_alive(process: psutil.Process) -> bool:
    """Running and not a zombie (a zombie holds no resources and cannot be killed further)."""
    import psutil

    try:
        # is_running() also guards against the pid having been reused.
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def signal_processes(processes: Iterable[psutil.Process], signum: int) -> None:
    import psutil

    for process in processes:
        try:
            process.send_signal(signum)  # checks the pid was not reused meanwhile
        except psutil.Error:
            pass  # already gone, or not ours


def unique(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    seen: dict[int, psutil.Process] = {}
    for process in processes:
        seen.setdefault(process.pid, process)
    return list(seen.values())


def wait_until(
    done: Callable[[], bool],
    deadline: float,
    idle: Callable[[float], None] | None = None,
) -> bool:
    """Call ``done`` until it is true or ``deadline`` (monotonic) passes; returns the last answer.

    Between checks it calls ``idle(seconds)`` (default: sleep) with a pause that
    starts at 1 ms and doubles up to 50 ms: processes that die at once are seen
    at once, stubborn ones are not polled in a busy loop.
    """
    pause = 0.001
    wait = idle or time.sleep
    while True:
        if done():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        wait(min(pause, remaining))
        pause = min(pause * 2, 0.05)


def processes_with_env(name: str, values: set[str]) -> list[psutil.Process]:
    """Processes whose environment sets ``name`` to one of ``values``.

    This is how GitHub's runner finds a job's orphans at the end of the job
    (``RUNNER_TRACKING_ID``), escapees included. Our own process and its
    ancestors are never returned: when conveyor itself runs inside a GitHub
    job, they carry that job's tracking id.
    """
    if not values:
        return []
    candidates = _pids_with_env_linux(name, values)
    if candidates is not None and not candidates:
        return []  # the usual end of a job: nothing escaped, and psutil never loaded
    import psutil

    spared = {os.getpid()}
    try:
        spared.update(ancestor.pid for ancestor in psutil.Process().parents())
    except psutil.Error:
        pass
    found = []
    if candidates is None:
        processes = psutil.process_iter()
    else:
        processes = []
        for pid in candidates:
            try:
                processes.append(psutil.Process(pid))
            except psutil.Error:
                continue
    for process in processes:
        if process.pid in spared:
            continue
        try:
            if process.environ().get(name) in values:
                found.append(process)
        except psutil.Error:
            continue  # exited, or another user's
    return found


def _pids_with_env_linux(name: str, values: set[str]) -> list[int] | None:
    """The pids whose /proc environ holds ``name=value``; None where there is no /proc.

    Reading the files directly costs a fraction of a millisecond for the whole
    machine, where psutil's per-process objects cost tens under load.
    """
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    needles = [f"\0{name}={value}\0".encode() for value in values]
    found = []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb", buffering=0) as handle:
                environ = b"\0" + handle.read()
        except OSError:
            continue  # exited, or another user's
        if any(needle in environ for needle in needles):
            found.append(int(entry))
    return found


def terminate(
    targets: list[psutil.Process],
    grace: float,
    kill_wait: float,
    idle: Callable[[float], None] | None = None,
) -> None:
    """SIGTERM ``targets`` and their descendants; SIGKILL whatever outlives ``grace``."""
    everything = unique([*targets, *descendants(process.pid for process in targets)])

    def all_gone() -> bool:
        everything[:] = [process for process in everything if is_alive(process)]
        return not everything

    signal_processes(everything, signal.SIGTERM)
    if wait_until(all_gone, time.monotonic() + grace, idle):
        return
    everything[:] = unique([*everything, *descendants(process.pid for process in everything)])
    signal_processes(everything, signal.SIGKILL)
    wait_until(all_gone, time.monotonic() + kill_wait, idle)
