"""Files this process shares with the steps of a job, handled without trusting them.

A job's temp dir (scripts, ``GITHUB_*`` files) is writable by its steps, and on the
server the steps are untrusted: between two steps any entry may have become a
symbolic link to a file only this process may touch (the database, the keys), a
FIFO that blocks whoever opens it, or a directory. Following the link would let
the step read through the engine (a summary shows the file) or write through it
(the next script overwrites the database). So every open here refuses links
(``O_NOFOLLOW``), never blocks (``O_NONBLOCK``) and accepts only regular files;
anything else is removed and made anew, or read as empty.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat

_REFUSED = (errno.ELOOP, errno.ENXIO, errno.EISDIR, errno.ENOTDIR, errno.EWOULDBLOCK)


def open_regular(path: str, flags: int) -> int | None:
    """A descriptor of ``path`` when it is a regular file (never through a link); else None."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno in _REFUSED:
            return None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def remove_entry(path: str) -> None:
    """Remove whatever a step left at ``path`` (a directory too), never following links."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path, ignore_errors=True)
    else:
        os.unlink(path)


def create_empty(path: str, mode: int = 0o644) -> None:
    """An empty regular file at ``path``, replacing whatever is there."""
    remove_entry(path)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode))


def open_for_writing(path: str, mode: int = 0o644) -> int:
    """A descriptor to overwrite ``path`` in place; a non-file there is replaced first."""
    fd = open_regular(path, os.O_WRONLY)
    if fd is not None:
        return fd
    remove_entry(path)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)


def read_regular(path: str, limit: int | None = None) -> bytes:
    """The bytes of ``path`` (at most ``limit``), or b"" when it is not a regular file."""
    try:
        # lstat follows no link and blocks on nothing: the common empty file is answered
        # without opening it (this runs for every file of every step).
        info = os.lstat(path)
    except FileNotFoundError:
        return b""
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        return b""
    fd = open_regular(path, os.O_RDONLY)
    if fd is None:
        return b""
    try:
        size = os.fstat(fd).st_size
        return read_up_to(fd, size if limit is None else min(size, limit))
    finally:
        os.close(fd)


def read_up_to(fd: int, wanted: int) -> bytes:
    """At most ``wanted`` bytes from ``fd``: fewer only where the file ends."""
    chunks: list[bytes] = []
    while wanted > 0:
        chunk = os.read(fd, wanted)
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)
