"""Moving a file between a store (the engine's) and the job's ``runner.temp``.

``runner.temp`` is writable by the job's steps, which are untrusted: between two steps
the directory itself or any entry in it may have become a symbolic link into the
data directory, or a FIFO. So the directory is opened once without following a
link, and every entry is opened relative to that descriptor with ``O_NOFOLLOW`` and
``O_NONBLOCK``, and only a regular file is taken (see ``engine/host_files.py``).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager

_COPY_CHUNK = 1024 * 1024


class RunnerTempError(Exception):
    pass


@contextmanager
def _directory(runner_temp: str) -> Iterator[int]:
    try:
        fd = os.open(runner_temp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        raise RunnerTempError(f"runner.temp {runner_temp} is not a directory: {error}") from None
    try:
        yield fd
    finally:
        os.close(fd)


def new_name(suffix: str) -> str:
    """A name nobody else chose in ``runner.temp``."""
    return f"conveyor-{os.urandom(8).hex()}{suffix}"


@contextmanager
def open_from_runner_temp(runner_temp: str, name: str) -> Iterator[int | None]:
    """A read descriptor of the regular file ``name`` the job left, or None; the entry
    is removed afterwards whatever it was."""
    with _directory(runner_temp) as directory:
        try:
            fd: int | None = os.open(
                name,
                os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                dir_fd=directory,
            )
        except OSError as error:
            if error.errno not in (errno.ENOENT, errno.ELOOP, errno.ENXIO, errno.EISDIR):
                raise
            fd = None
        try:
            if fd is not None and not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                fd = None
            yield fd
        finally:
            if fd is not None:
                os.close(fd)
            _remove(directory, name)


def copy_into_runner_temp(runner_temp: str, source: str, suffix: str) -> str:
    """Copy the store's file ``source`` into ``runner.temp`` under a new name; returns the
    new file's path. The job may read it, and remove it."""
    name = new_name(suffix)
    with _directory(runner_temp) as directory:
        fd = os.open(
            name,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o644,
            dir_fd=directory,
        )
        try:
            with open(source, "rb") as handle:
                while chunk := handle.read(_COPY_CHUNK):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
            os.fchmod(fd, 0o644)
        finally:
            os.close(fd)
    return os.path.join(runner_temp, name)


def remove_from_runner_temp(runner_temp: str, name: str) -> None:
    with _directory(runner_temp) as directory:
        _remove(directory, name)


def _remove(directory: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=directory)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        pass  # the job made a directory there; it is the job's to clean up
    except PermissionError:
        pass
