"""Reading a file of a checked-out repository without following links out of it.

The repository's files are not the engine's: a committed symbolic link, or one a
step made, could point a ``./.github/workflows/x.yml`` at a file only this process
may read (on the server, the data directory). So each directory on the way is
opened with ``O_NOFOLLOW`` relative to the one before, and only a regular file is
read.
"""

from __future__ import annotations

import errno
import os
import stat

from conveyor.engine.host_files import read_up_to


class RepositoryFileError(Exception):
    """The file could not be read; ``str`` says why, without naming anything outside."""


def read_repository_file(root: str, relative: str, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of ``root/relative`` (so that "too large" can be told)."""
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise RepositoryFileError(f"{relative!r} is not a path inside the repository")
    directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            inner = _open(part, os.O_RDONLY | os.O_DIRECTORY, directory, relative)
            os.close(directory)
            directory = inner
        fd = _open(parts[-1], os.O_RDONLY | os.O_NONBLOCK, directory, relative)
    finally:
        os.close(directory)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RepositoryFileError(f"{relative} is not a regular file")
        os.set_blocking(fd, True)
        return read_up_to(fd, limit + 1)
    finally:
        os.close(fd)


def _open(name: str, flags: int, directory: int, relative: str) -> int:
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory)
    except FileNotFoundError:
        raise RepositoryFileError(f"{relative} does not exist") from None
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise RepositoryFileError(
                f"refused: {relative} goes through a symbolic link or a non-directory "
                "(a called workflow must be a plain file of the repository)"
            ) from None
        raise RepositoryFileError(f"cannot read {relative}: {error.strerror}") from None
