"""A scriptable executor for fast engine tests: it runs no process.

Each step is steered by variables in its own environment (``command.env``), so
a test workflow says what every step does:

- ``FAKE_START_ERROR``: the step cannot start; ``StepExit.error`` is this text.
- ``FAKE_OUTPUT``: text the step prints. Lines are separated by a newline or by
  the two characters ``\\n`` (plain YAML scalars cannot hold a newline); each
  line is emitted followed by a newline, one ``on_output`` chunk per line.
- ``FAKE_CHUNK_SIZE``: emit the output in chunks of this many bytes instead, so
  tests can check that the engine joins lines split across chunks.
- ``FAKE_GITHUB_OUTPUT``, ``FAKE_GITHUB_ENV``, ``FAKE_GITHUB_PATH``,
  ``FAKE_GITHUB_STEP_SUMMARY``: lines, separated by ``;``, appended to the file
  the step's ``GITHUB_OUTPUT`` (etc.) variable names. If that variable is
  missing the step fails with exit code 1, as ``echo x >> "$GITHUB_OUTPUT"``
  would.
- ``FAKE_SLEEP``: seconds the step lasts, after printing. Cancellation ends it
  at once (``cancelled=True``); a ``command.timeout`` shorter than the sleep
  ends it after the timeout (``timed_out=True``).
- ``FAKE_EXIT_CODE``: the exit code (default 0).

A malformed number in these variables is reported as a start error naming the
variable. Every ``StepCommand`` received is recorded in ``executor.commands``
(all jobs, in the order ``run`` was called) and in its host's ``commands``.
"""

from __future__ import annotations

import shutil
import tempfile
import threading

from conveyor.executors.base import StepCommand, StepExit

_FILE_VARIABLES = ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY")


class FakeExecutor:
    """Executor whose steps do what their FAKE_* environment variables say."""

    name = "fake"

    def __init__(self) -> None:
        self.commands: list[StepCommand] = []
        self.hosts: list[FakeJobHost] = []
        self._lock = threading.Lock()

    def prepare_job(self, job_key: str, workspace: str) -> FakeJobHost:
        host = FakeJobHost(self, job_key, workspace)
        with self._lock:
            self.hosts.append(host)
        return host

    def _record(self, command: StepCommand) -> None:
        with self._lock:
            self.commands.append(command)


class FakeJobHost:
    """A job on the fake executor. Its ``temp_dir`` is real: the engine writes files there."""

    def __init__(self, executor: FakeExecutor, job_key: str, workspace: str) -> None:
        self.job_key = job_key
        self.workspace = workspace
        self.temp_dir = tempfile.mkdtemp(prefix="conveyor-fake-")
        self.commands: list[StepCommand] = []
        self.closed = False
        self._executor = executor

    def run(self, command: StepCommand) -> StepExit:
        self._executor._record(command)
        self.commands.append(command)
        if command.cancellation.cancelled:
            return StepExit(exit_code=None, cancelled=True)
        env = command.env
        if "FAKE_START_ERROR" in env:
            return StepExit(exit_code=None, error=env["FAKE_START_ERROR"])
        try:
            exit_code = _integer(env, "FAKE_EXIT_CODE", 0)
            sleep = _seconds(env, "FAKE_SLEEP")
            chunk_size = _integer(env, "FAKE_CHUNK_SIZE", 0)
        except ValueError as error:
            return StepExit(exit_code=None, error=str(error))

        _emit(command, _output_bytes(env.get("FAKE_OUTPUT")), chunk_size)
        for variable in _FILE_VARIABLES:
            lines = env.get(f"FAKE_{variable}")
            if lines is None:
                continue
            path = env.get(variable)
            if not path:
                command.on_output(f"fake step: {variable} is not set\n".encode())
                return StepExit(exit_code=1)
            with open(path, "a", encoding="utf-8") as file:
                file.writelines(f"{line}\n" for line in lines.split(";"))

        if sleep > 0:
            timeout = command.timeout
            limit = sleep if timeout is None else min(sleep, timeout)
            if command.cancellation.wait(limit):
                return StepExit(exit_code=None, cancelled=True)
            if timeout is not None and timeout < sleep:
                return StepExit(exit_code=None, timed_out=True)
        return StepExit(exit_code=exit_code)

    def close(self) -> None:
        self.closed = True
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _integer(env: dict[str, str], name: str, default: int) -> int:
    text = env.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"fake step: {name} must be an integer, got {text!r}") from None


def _seconds(env: dict[str, str], name: str) -> float:
    text = env.get(name)
    if text is None:
        return 0.0
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"fake step: {name} must be a number of seconds, got {text!r}") from None


def _output_bytes(text: str | None) -> list[bytes]:
    if text is None:
        return []
    lines = text.replace("\\n", "\n").split("\n")
    return [f"{line}\n".encode() for line in lines]


def _emit(command: StepCommand, lines: list[bytes], chunk_size: int) -> None:
    if chunk_size <= 0:
        for line in lines:
            command.on_output(line)
        return
    data = b"".join(lines)
    for start in range(0, len(data), chunk_size):
        command.on_output(data[start : start + chunk_size])
