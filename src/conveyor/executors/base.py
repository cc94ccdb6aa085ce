"""The executor contract: how the engine starts one step's process and learns its end.

Lifecycle, for each job the engine runs:

1. ``executor.prepare_job(job_key, workspace)`` once, before the job's first
   step; it returns the job's ``JobHost`` (temp dir for scripts and env files).
2. ``host.run(command)`` once per step, in order, never two at a time for one
   job. Different jobs call ``run`` on their own hosts from their own threads at
   the same time. ``run`` blocks until the step's process (and every process it
   left on its output) is gone, feeding output to ``command.on_output`` as it
   comes, and returns a ``StepExit``. It never raises for a failing step; it
   raises only for a bug.
3. ``host.close()`` once, after the last step, even when steps failed or the run
   was cancelled.

Cancellation: ``Cancellation.cancel()`` may be called from any thread; a
``run`` in progress kills its step's whole process tree and returns with
``cancelled=True``. A timeout does the same with ``timed_out=True``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from conveyor.records import field, record


class Cancellation:
    """A flag shared by the engine and the processes it started."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on cancel (at once if already cancelled); returns an unsubscribe."""
        with self._lock:
            already = self._event.is_set()
            if not already:
                self._callbacks.append(callback)
        if already:
            callback()

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)


@record
class StepCommand:
    """What to start: ``argv`` in ``cwd`` with exactly ``env`` (nothing inherited)."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    # Receives raw output bytes in chunks as they arrive (stdout and stderr merged,
    # in arrival order). Chunks are not split on lines; the engine does that.
    on_output: Callable[[bytes], None]
    timeout: float | None = None  # seconds
    cancellation: Cancellation = field(default_factory=Cancellation)


@record(frozen=True)
class StepExit:
    exit_code: int | None  # None when the process could not start or was killed
    timed_out: bool = False
    cancelled: bool = False
    error: str | None = None  # could not start: missing shell, bad cwd, ...


class JobHost(Protocol):
    """Where one job's steps run. ``temp_dir`` holds scripts and the GITHUB_* files."""

    temp_dir: str
    workspace: str

    def run(self, command: StepCommand) -> StepExit: ...

    def close(self) -> None: ...


class Executor(Protocol):
    name: str

    def prepare_job(self, job_key: str, workspace: str) -> JobHost: ...
