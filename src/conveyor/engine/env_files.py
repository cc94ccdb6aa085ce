"""The per-step files: GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH, GITHUB_STATE, GITHUB_STEP_SUMMARY.

They live in the job's temp dir, which the step can write: a step may replace any of
them with a symbolic link (to the server's database, its keys) or a FIFO. This
process never follows such a link nor blocks on such a file (see ``host_files``).
"""

from __future__ import annotations

import os
import stat

from conveyor.engine.host_files import create_empty, open_regular, read_regular
from conveyor.records import record

SUMMARY_LIMIT = 1024 * 1024  # GitHub refuses step summaries above 1 MiB


class EnvFileError(Exception):
    """A file a step wrote cannot be read; the message names the file and the line."""


@record(frozen=True)
class StepFiles:
    output: str
    env: str
    path: str
    state: str
    summary: str

    @classmethod
    def create(cls, directory: str, prefix: str) -> StepFiles:
        """Empty files for one step, named after ``prefix``."""
        files = cls._named(directory, prefix)
        for name in files.paths():
            create_empty(name)
        return files

    def renewed(self, directory: str, prefix: str) -> StepFiles:
        """This step's files emptied and moved to the next step's names.

        GitHub documents that these paths change from step to step. Renaming costs
        a few microseconds where creating a file costs ~150 us on a disk-backed
        temp dir, and a step is expected to cost little more than its shell.
        """
        files = self._named(directory, prefix)
        for old, new in zip(self.paths(), files.paths(), strict=True):
            try:
                info = os.lstat(old)  # follows no link, blocks on nothing
            except FileNotFoundError:
                info = None
            if info is None or not stat.S_ISREG(info.st_mode):
                create_empty(new)  # deleted, or replaced by something that is not a file
                continue
            if info.st_size:
                fd = open_regular(old, os.O_WRONLY)
                if fd is None:  # swapped meanwhile by a process the step left
                    create_empty(new)
                    continue
                try:
                    os.ftruncate(fd, 0)
                finally:
                    os.close(fd)
            os.rename(old, new)
        return files

    @classmethod
    def _named(cls, directory: str, prefix: str) -> StepFiles:
        return cls(
            output=os.path.join(directory, f"{prefix}_output"),
            env=os.path.join(directory, f"{prefix}_env"),
            path=os.path.join(directory, f"{prefix}_path"),
            state=os.path.join(directory, f"{prefix}_state"),
            summary=os.path.join(directory, f"{prefix}_step_summary"),
        )

    def paths(self) -> tuple[str, ...]:
        return (self.output, self.env, self.path, self.state, self.summary)

    def environment(self) -> dict[str, str]:
        return {
            "GITHUB_OUTPUT": self.output,
            "GITHUB_ENV": self.env,
            "GITHUB_PATH": self.path,
            "GITHUB_STATE": self.state,
            "GITHUB_STEP_SUMMARY": self.summary,
        }


def _read_text(path: str) -> str:
    data = read_regular(path)
    return data.decode("utf-8", errors="replace") if data else ""


def parse_key_values(text: str, label: str) -> dict[str, str]:
    """``NAME=value`` lines and ``NAME<<DELIMITER`` ... ``DELIMITER`` blocks.

    ``label`` names the file in error messages (``GITHUB_OUTPUT``).
    """
    values: dict[str, str] = {}
    lines = text.replace("\r\n", "\n").split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        number = index + 1
        index += 1
        if not line.strip():
            continue
        equals = line.find("=")
        heredoc = line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            name, value = line[:equals], line[equals + 1 :]
            if not name:
                raise EnvFileError(
                    f"{label} line {number}: a name is missing before '=' in {line!r}"
                )
            values[name] = value
            continue
        if heredoc < 0:
            raise EnvFileError(
                f"{label} line {number}: expected NAME=value or NAME<<DELIMITER, got {line!r}"
            )
        name, delimiter = line[:heredoc], line[heredoc + 2 :]
        if not name or not delimiter:
            raise EnvFileError(
                f"{label} line {number}: a name and a delimiter are needed around '<<' in {line!r}"
            )
        body: list[str] = []
        while index < len(lines) and lines[index] != delimiter:
            body.append(lines[index])
            index += 1
        if index >= len(lines):
            raise EnvFileError(
                f"{label} line {number}: no line with the delimiter {delimiter!r} "
                f"closes the value of {name!r}"
            )
        index += 1  # the delimiter line
        values[name] = "\n".join(body)
    return values


def read_key_values(path: str, label: str) -> dict[str, str]:
    return parse_key_values(_read_text(path), label)


def read_path_entries(path: str) -> list[str]:
    return [line.strip() for line in _read_text(path).splitlines() if line.strip()]


def read_summary(path: str) -> str:
    data = read_regular(path, SUMMARY_LIMIT + 1)
    if len(data) > SUMMARY_LIMIT:
        raise EnvFileError(
            f"GITHUB_STEP_SUMMARY is over {SUMMARY_LIMIT} bytes (1 MiB), GitHub's limit"
        )
    return data.decode("utf-8", errors="replace")
