"""The local executor: each step is a real process on this machine.

How a step runs (``LocalJobHost.run``):

- ``command.argv`` starts in ``command.cwd`` with exactly ``command.env``, stdin
  from /dev/null, stdout and stderr merged into one pipe (so their order is
  kept), as the leader of a new session, so the step and whatever it starts
  form a process group of their own.
- The pipe (widened to 1 MiB) is read in chunks of up to 256 KiB, each handed to
  ``command.on_output`` as it arrives; nothing is accumulated, so a step may
  print gigabytes.
- The loop sleeps in ``poll`` on three things: the pipe, a pidfd for the step's
  process (Linux; elsewhere a 20 ms check of its status while the pipe is
  quiet) and a wake-up pipe written by ``Cancellation.cancel``. Cancellation and
  timeouts are therefore noticed at once, without busy-waiting.
- The step ends when its process has exited and the pipe is at end of file. A
  process it left behind that still holds the pipe (a daemon that did not
  redirect its output) does not keep the step running - on GitHub it would
  hang the step until it dies: once the step's process has exited, whatever
  arrives in the next ``exit_drain`` seconds (default 0.1 s) is still read,
  then reading stops and the holders are killed.
- Orphans: by default (``orphans="job"``) whatever a step left in its process
  group lives until the job ends, as on GitHub's runner, so ``server >log 2>&1 &``
  in one step and ``curl`` in the next works; ``close`` kills them.
  ``orphans="step"`` is stricter and kills them when their step ends. Either
  way ``close`` also kills processes that carry one of the job's
  ``RUNNER_TRACKING_ID`` values (see ``LocalJobHost``). See ``process_tree``
  for what can and cannot be found.
- Timeout and cancellation end the step's whole tree: SIGTERM to the process
  group and to every descendant and pipe holder (found with psutil at that
  moment, so children that called ``setsid`` are included), then SIGKILL to
  whatever is left after ``kill_grace`` seconds (default 2.5 s: the pause
  GitHub's runner allows between its SIGTERM and its kill).
- A step killed by a signal it did not get from us exits with 128 + the signal
  number, as bash reports it. A step we killed (timeout, cancellation) has
  ``exit_code=None``.
- A step that cannot start (missing shell, missing or unreadable working
  directory, permission denied) returns ``StepExit(exit_code=None, error=...)``
  naming the thing that is wrong; ``run`` never raises for it.
"""

from __future__ import annotations

import errno
import fcntl
import math
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from enum import Enum
from typing import IO, TYPE_CHECKING

from conveyor.executors import process_tree
from conveyor.executors.base import StepCommand, StepExit
from conveyor.records import record

if TYPE_CHECKING:
    import psutil

CHUNK_SIZE = 256 * 1024
PIPE_SIZE = 1024 * 1024
# After SIGTERM, how long a step's processes get to clean up before SIGKILL.
DEFAULT_KILL_GRACE = 2.5
# After the step's process exits, how long output from processes it left on the
# pipe is still read. What the process itself wrote is already in the pipe and
# is read at once; this window is only for stragglers finishing a last write.
# 0.1 s is below what a person watching the log notices, and it is paid only by
# steps that leave such a process behind.
DEFAULT_EXIT_DRAIN = 0.1
# After SIGKILL the kernel needs a moment to tear processes down; past this we
# stop waiting (a process stuck in uninterruptible sleep cannot be helped).
_AFTER_KILL_WAIT = 1.0
# GitHub's runner marks every step process with this variable to find a job's
# orphans at its end.
TRACKING_VARIABLE = "RUNNER_TRACKING_ID"
# Without a pidfd, how often a quiet step's process is checked for exit.
_EXIT_CHECK_INTERVAL = 0.02


class LocalExecutor:
    """Runs every step of a job as a process on this host.

    ``orphans`` says when processes a step leaves behind in its process group
    (without holding its output) are killed: ``"job"`` (default) when the job's
    host closes, as GitHub's runner does, so that ``server >log 2>&1 &`` in one
    step still serves the next ones; ``"step"`` when the step ends.
    """

    name = "local"

    def __init__(
        self,
        *,
        kill_grace: float = DEFAULT_KILL_GRACE,
        exit_drain: float = DEFAULT_EXIT_DRAIN,
        orphans: str = "job",
    ) -> None:
        if orphans not in ("step", "job"):
            raise ValueError(f"orphans must be 'step' or 'job', not {orphans!r}")
        self.kill_grace = kill_grace
        self.exit_drain = exit_drain
        self.orphans = orphans

    def prepare_job(self, job_key: str, workspace: str) -> LocalJobHost:
        temp_dir = tempfile.mkdtemp(prefix=f"conveyor-{_file_name_part(job_key)}-")
        return LocalJobHost(
            workspace=workspace,
            temp_dir=temp_dir,
            kill_grace=self.kill_grace,
            exit_drain=self.exit_drain,
            keep_orphans_until_close=self.orphans == "job",
        )


class LocalJobHost:
    """One job's place on this host: its workspace and a private temp dir.

    ``close`` also ends what the job's steps left running that can still be
    found: process groups kept by ``orphans="job"``, and every process whose
    environment carries a ``RUNNER_TRACKING_ID`` that one of the job's steps was
    given (GitHub's own way to find a job's orphans; a process started with
    that variable emptied survives the job, as on GitHub).
    """

    def __init__(
        self,
        *,
        workspace: str,
        temp_dir: str,
        kill_grace: float = DEFAULT_KILL_GRACE,
        exit_drain: float = DEFAULT_EXIT_DRAIN,
        keep_orphans_until_close: bool = False,
    ) -> None:
        self.workspace = workspace
        self.temp_dir = temp_dir
        self._kill_grace = kill_grace
        self._exit_drain = exit_drain
        self._keep_orphans_until_close = keep_orphans_until_close
        self._orphan_groups: list[tuple[int, list[psutil.Process]]] = []
        self._tracking_ids: set[str] = set()

    def run(self, command: StepCommand) -> StepExit:
        if command.cancellation.cancelled:
            return StepExit(exit_code=None, cancelled=True)
        tracking_id = command.env.get(TRACKING_VARIABLE)
        # Never our own tracking id (conveyor inside a GitHub job): that would
        # make close() sweep the processes of the job that runs us.
        if tracking_id and tracking_id != os.environ.get(TRACKING_VARIABLE):
            self._tracking_ids.add(tracking_id)
        started = _start(command, self._launch(command))
        if isinstance(started, StepExit):
            return started
        keep_orphans = self._orphan_groups.append if self._keep_orphans_until_close else None
        step = _RunningStep(started, command, self._kill_grace, self._exit_drain, keep_orphans)
        return step.supervise()

    def _launch(self, command: StepCommand) -> Launch:
        """How the step's process is started; a sandbox wraps the command here."""
        return Launch(argv=command.argv, cwd=command.cwd, env=command.env)

    def close(self) -> None:
        try:
            self._end_orphans()
        finally:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def _end_orphans(self) -> None:
        groups, self._orphan_groups = self._orphan_groups, []
        tracking_ids, self._tracking_ids = self._tracking_ids, set()
        if not groups and not tracking_ids:
            return  # the common case; do not even import psutil
        targets: list[psutil.Process] = []
        for group, members in groups:
            alive = [member for member in members if process_tree.is_alive(member)]
            targets += alive
            # With pids wrapping around, a bare number may name a stranger's group
            # by now: only a member we recorded proves the group is still ours.
            if any(process_tree.process_group(member) == group for member in alive):
                targets += process_tree.group_members(group)
        targets += process_tree.processes_with_env(TRACKING_VARIABLE, tracking_ids)
        if targets:
            process_tree.terminate(process_tree.unique(targets), self._kill_grace, _AFTER_KILL_WAIT)


def _file_name_part(text: str) -> str:
    """A short, safe piece of a file name, so a job's temp dir can be recognised."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")
    return cleaned[:40] or "job"


@record(frozen=True)
class Launch:
    """The process the host really starts for a step: the step's own command, or that
    command wrapped (a sandbox), with descriptors to hand over and a user to become."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    pass_fds: tuple[int, ...] = ()
    user: int | None = None
    group: int | None = None


def _start(command: StepCommand, launch: Launch) -> subprocess.Popen[bytes] | StepExit:
    if not command.argv:
        return StepExit(exit_code=None, error="cannot start the step: its command is empty")
    identity: dict[str, object] = {}
    if launch.user is not None:
        identity = {"user": launch.user, "group": launch.group, "extra_groups": []}
    try:
        # No preexec_fn: it would force fork() instead of vfork/posix_spawn.
        process = subprocess.Popen(
            launch.argv,
            cwd=launch.cwd,
            env=launch.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            bufsize=0,
            pass_fds=launch.pass_fds,
            **identity,  # type: ignore[arg-type]
        )
    except OSError as error:
        return StepExit(exit_code=None, error=_describe_start_failure(error, command))
    except ValueError as error:
        return StepExit(exit_code=None, error=_describe_bad_value(error, command))
    _widen_pipe(process.stdout)
    return process


def _widen_pipe(pipe: IO[bytes] | None) -> None:
    """A larger pipe lets a chatty step write on while we process what it wrote,
    and halves the reads (and wake-ups) per megabyte. Linux only; best effort."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if pipe is None or set_size is None:
        return
    try:
        fcntl.fcntl(pipe.fileno(), set_size, PIPE_SIZE)
    except OSError:
        pass  # over /proc/sys/fs/pipe-max-size for this user: keep the default


def _describe_start_failure(error: OSError, command: StepCommand) -> str:
    program = command.argv[0]
    failed_path = os.fsdecode(error.filename) if error.filename is not None else None
    if failed_path is not None and failed_path == command.cwd:
        reasons = {
            errno.ENOENT: "the step's working directory does not exist",
            errno.ENOTDIR: "the step's working directory is not a directory",
            errno.EACCES: "permission denied entering the step's working directory",
        }
        reason = reasons.get(
            error.errno, f"cannot enter the step's working directory ({error.strerror})"
        )
        return f"{reason}: {command.cwd}"
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        if os.sep in program:
            return f"cannot start the step: executable not found: {program}"
        if "PATH" not in command.env:
            return (
                f"cannot start the step: executable {program!r} not found "
                "(the step's environment has no PATH)"
            )
        return f"cannot start the step: executable {program!r} not found on the step's PATH"
    if error.errno == errno.EACCES:
        return f"cannot start the step: permission denied executing {program}"
    if error.errno == errno.ENOEXEC:
        return f"cannot start the step: {program} is not an executable program (no #! line?)"
    if error.errno == errno.E2BIG:
        return "cannot start the step: its command line and environment are too large"
    return f"cannot start the step ({program}): {error.strerror or error}"


def _describe_bad_value(error: ValueError, command: StepCommand) -> str:
    """Name the part of the command the OS refused (never a value: it may be a secret)."""
    if "\0" in command.cwd:
        return "cannot start the step: its working directory contains a NUL character"
    for position, argument in enumerate(command.argv):
        if "\0" in argument:
            return f"cannot start the step: command argument {position} contains a NUL character"
    for name, value in command.env.items():
        if "\0" in name or "=" in name or not name:
            return f"cannot start the step: invalid environment variable name {name!r}"
        if "\0" in value:
            return f"cannot start the step: environment variable {name} contains a NUL character"
    return f"cannot start the step: {error}"


def _exit_code(returncode: int) -> int:
    # Popen reports death by signal N as -N; shells say 128 + N.
    return 128 - returncode if returncode < 0 else returncode


class _Ending(Enum):
    FINISHED = "process exited and the pipe reached end of file"
    HELD_OPEN = "process exited but something else still holds the pipe"
    TIMED_OUT = "timeout"
    CANCELLED = "cancelled"


class _Wakeup:
    """A pipe that ``Cancellation.cancel`` writes to, so ``poll`` wakes up at once.

    The callback may run in another thread after the step has ended; the lock
    and flag stop it writing to a descriptor number that has been reused.
    """

    def __init__(self) -> None:
        self.fd, self._write_fd = os.pipe()
        self._lock = threading.Lock()
        self._closed = False

    def fire(self) -> None:
        with self._lock:
            if not self._closed:
                os.write(self._write_fd, b"x")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            os.close(self.fd)
            os.close(self._write_fd)


def _open_pidfd(pid: int) -> int | None:
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        return pidfd_open(pid)
    except OSError:
        return None  # kernel older than 5.3, or a sandbox forbids it


class _RunningStep:
    """Supervises one started step process until it and what it left are gone."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        command: StepCommand,
        kill_grace: float,
        exit_drain: float,
        keep_orphans: Callable[[tuple[int, list[psutil.Process]]], None] | None = None,
    ) -> None:
        self._process = process
        self._keep_orphans = keep_orphans
        # A session leader's pid is also its process group id.
        self._group = process.pid
        self._command = command
        self._kill_grace = kill_grace
        self._exit_drain = exit_drain
        assert process.stdout is not None
        self._out = process.stdout
        self._out_fd = process.stdout.fileno()
        self._pipe_inode = os.fstat(self._out_fd).st_ino
        self._out_open = True
        self._poller = select.poll()

    def supervise(self) -> StepExit:
        try:
            wakeup = _Wakeup()
        except OSError as error:  # out of file descriptors: do not leave it unwatched
            self._end_tree(forward_output=False)
            self._out.close()
            return StepExit(exit_code=None, error=f"cannot supervise the step: {error.strerror}")
        pidfd = _open_pidfd(self._process.pid)
        unsubscribe = self._command.cancellation.on_cancel(wakeup.fire)
        try:
            try:
                ending = self._pump(pidfd, wakeup.fd)
            finally:
                unsubscribe()
                # From here on only the output pipe is polled.
                self._unregister(wakeup.fd)
                if pidfd is not None:
                    self._unregister(pidfd)
            if ending in (_Ending.TIMED_OUT, _Ending.CANCELLED):
                self._end_tree()
            else:
                self._end_leftovers()
            self._drain_rest()
        except BaseException:
            # A failing on_output (a bug upstream) or a KeyboardInterrupt must not
            # leave the step running unsupervised.
            self._end_tree(forward_output=False)
            raise
        finally:
            wakeup.close()
            if pidfd is not None:
                os.close(pidfd)
            self._out.close()

        if ending is _Ending.TIMED_OUT:
            return StepExit(exit_code=None, timed_out=True)
        if ending is _Ending.CANCELLED:
            return StepExit(exit_code=None, cancelled=True)
        returncode = self._process.returncode
        return StepExit(exit_code=None if returncode is None else _exit_code(returncode))

    def _pump(self, pidfd: int | None, wake_fd: int) -> _Ending:
        """Forward output until the step ends or must be stopped; the hot loop."""
        poll = self._poller.poll
        read = os.read
        monotonic = time.monotonic
        out_fd = self._out_fd
        on_output = self._command.on_output
        process = self._process

        self._poller.register(out_fd, select.POLLIN)
        self._poller.register(wake_fd, select.POLLIN)
        if pidfd is not None:
            self._poller.register(pidfd, select.POLLIN)

        timeout = self._command.timeout
        deadline = None if timeout is None else monotonic() + timeout
        # Without a pidfd the process's exit is found by asking: every 20 ms while
        # it runs, and in quick succession once its output closed (it is most
        # likely exiting then, and each millisecond of waiting is per-step cost).
        exit_check_interval = _EXIT_CHECK_INTERVAL
        next_exit_check = None if pidfd is not None else monotonic() + exit_check_interval
        drain_until: float | None = None  # set once the step's process has exited

        while True:
            now = monotonic()
            if drain_until is None:
                if deadline is not None and now >= deadline:
                    return _Ending.TIMED_OUT
                if next_exit_check is not None and now >= next_exit_check:
                    if process.poll() is not None:
                        drain_until = now + self._exit_drain
                        if not self._out_open:
                            return _Ending.FINISHED
                        continue
                    if not self._out_open:
                        exit_check_interval = min(exit_check_interval * 2, _EXIT_CHECK_INTERVAL)
                    next_exit_check = now + exit_check_interval
                wake_at = _earliest(deadline, next_exit_check)
            else:
                if now >= drain_until:
                    return _Ending.HELD_OPEN
                wake_at = drain_until

            for fd, _ in poll(_poll_milliseconds(wake_at, now)):
                if fd == out_fd:
                    chunk = read(out_fd, CHUNK_SIZE)
                    if chunk:
                        on_output(chunk)
                    else:
                        self._stop_reading()
                        if next_exit_check is not None:
                            exit_check_interval = 0.0005
                            next_exit_check = now
                elif fd == wake_fd:
                    # Cancelled after the process exited: the step is over anyway;
                    # just stop waiting for what it left on the pipe.
                    return _Ending.CANCELLED if drain_until is None else _Ending.HELD_OPEN
                elif fd == pidfd:
                    self._unregister(pidfd)
                    process.wait()  # already exited: this only reaps it
                    drain_until = monotonic() + self._exit_drain
            if drain_until is not None and not self._out_open:
                return _Ending.FINISHED

    def _unregister(self, fd: int) -> None:
        try:
            self._poller.unregister(fd)
        except KeyError:
            pass  # never registered, or already removed

    def _stop_reading(self) -> None:
        if self._out_open:
            self._out_open = False
            self._unregister(self._out_fd)

    def _forward_for(self, seconds: float) -> None:
        """Wait up to ``seconds``, forwarding any output that arrives meanwhile."""
        if not self._out_open:
            time.sleep(seconds)
            return
        if self._poller.poll(max(0, math.ceil(seconds * 1000))):
            chunk = os.read(self._out_fd, CHUNK_SIZE)
            if chunk:
                self._command.on_output(chunk)
            else:
                self._stop_reading()

    def _drain_rest(self) -> None:
        """Forward what is still buffered in the pipe, without waiting for more."""
        until = time.monotonic() + self._exit_drain
        while self._out_open and time.monotonic() < until:
            if not self._poller.poll(0):
                break
            chunk = os.read(self._out_fd, CHUNK_SIZE)
            if chunk:
                self._command.on_output(chunk)
            else:
                self._stop_reading()
        self._stop_reading()

    def _end_leftovers(self) -> None:
        """After a normal exit: end what holds the pipe, and the rest of the group
        now or (``orphans="job"``) hand it to the host for the job's end."""
        if self._keep_orphans is None:
            if self._out_open or process_tree.group_exists(self._group):
                self._end_tree()
            return
        if self._out_open:
            holders = process_tree.pipe_holders(self._pipe_inode)
            process_tree.terminate(holders, self._kill_grace, _AFTER_KILL_WAIT, self._forward_for)
        if process_tree.group_exists(self._group):
            members = process_tree.group_members(self._group)
            alive = [member for member in members if process_tree.is_alive(member)]
            if alive:
                self._keep_orphans((self._group, alive))

    def _targets(self, known: list[psutil.Process]) -> list[psutil.Process]:
        """Every process of the step we can find right now, besides its own process."""
        found = [process for process in known if process_tree.is_alive(process)]
        roots = [process.pid for process in found]
        if self._process.returncode is None:
            # Only while it is unreaped is the pid surely still the step's process.
            roots.append(self._process.pid)
        found += process_tree.descendants(roots)
        if self._out_open:
            found += process_tree.pipe_holders(self._pipe_inode)
        if process_tree.group_exists(self._group):
            found += process_tree.group_members(self._group)
        return [
            process
            for process in process_tree.unique(found)
            if process.pid != self._process.pid and process_tree.is_alive(process)
        ]

    def _end_tree(self, *, forward_output: bool = True) -> None:
        """SIGTERM everything the step started, SIGKILL what outlives the grace period."""
        targets = self._targets([])

        def all_gone() -> bool:
            self._process.poll()  # reap the step's process as soon as it dies
            if self._process.returncode is None:
                return False
            targets[:] = [process for process in targets if process_tree.is_alive(process)]
            if targets:
                return False
            if not process_tree.group_exists(self._group):
                return True
            # Only zombies may be left, waiting for a parent to reap them.
            return not any(
                process_tree.is_alive(member) for member in process_tree.group_members(self._group)
            )

        idle = self._forward_for if forward_output else time.sleep
        for signum, wait in (
            (signal.SIGTERM, self._kill_grace),
            (signal.SIGKILL, _AFTER_KILL_WAIT),
        ):
            if signum == signal.SIGKILL:
                # Collect again: during the grace period the tree may have forked.
                targets[:] = self._targets(targets)
            process_tree.signal_group(self._group, signum)
            process_tree.signal_processes(targets, signum)
            if process_tree.wait_until(all_gone, time.monotonic() + wait, idle):
                return


def _poll_milliseconds(wake_at: float | None, now: float) -> int | None:
    """poll()'s timeout for waking at ``wake_at``: rounded up, so we never wake too
    early and spin; capped, because poll takes a C int (the loop just waits again)."""
    if wake_at is None:
        return None
    return math.ceil(max(0.0, min(wake_at - now, 3600.0)) * 1000)


def _earliest(*moments: float | None) -> float | None:
    present = [moment for moment in moments if moment is not None]
    return min(present) if present else None
