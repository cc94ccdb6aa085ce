"""A fetched action's files, copied where the job's steps can run them.

The action store lives in Conveyor's data (or cache) directory, which a sandboxed
job never sees, and which a job must not be able to change. So the files an action
needs are copied into the job's runner directory (``<runner>/_actions/owner/repo/ref``,
as GitHub's runner lays them out), which the sandbox shows the job and which goes
away with it.

That directory is writable by the job's steps, and a step may have left a link
anywhere in it, even while the copy is made (a process it left running). So every
directory is opened relative to its parent's descriptor without following links
(``O_NOFOLLOW``), and every file is created with ``O_EXCL``: nothing the engine
writes can land outside the job's own directory. Links inside the action itself are
copied as links, never followed: they resolve in the job's view, not the engine's.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def copy_into_job(source: str, runner_dir: str, parts: list[str]) -> str:
    """Copy the tree ``source`` to ``runner_dir/<parts...>`` (kept if already there); its path.

    ``runner_dir`` is the engine's own (its parent is not shown to the job);
    ``parts`` are plain names (no ``/``, ``.`` or ``..``).
    """
    for part in parts:
        if not part or "/" in part or part in (".", ".."):
            raise ValueError(f"not a plain file name: {part!r}")
    *parents, last = parts
    directory = os.open(runner_dir, _DIRECTORY_FLAGS)
    try:
        for name in parents:
            inner = _open_or_make_directory(directory, name)
            os.close(directory)
            directory = inner
        try:
            info = os.stat(last, dir_fd=directory, follow_symlinks=False)
        except FileNotFoundError:
            info = None
        if info is not None and stat.S_ISDIR(info.st_mode):
            # Copied by an earlier step of this job; what the job did to it is its own.
            return os.path.join(runner_dir, *parts)
        if info is not None:
            os.unlink(last, dir_fd=directory)
        staging = f".{last}.{os.urandom(6).hex()}"
        os.mkdir(staging, 0o755, dir_fd=directory)
        try:
            staged = os.open(staging, _DIRECTORY_FLAGS, dir_fd=directory)
            try:
                os.fchmod(staged, 0o755)
                _copy_tree(source, staged)
            finally:
                os.close(staged)
            os.rename(staging, last, src_dir_fd=directory, dst_dir_fd=directory)
        except BaseException:
            _remove_directory_at(directory, staging)
            raise
    finally:
        os.close(directory)
    return os.path.join(runner_dir, *parts)


def _open_or_make_directory(parent: int, name: str) -> int:
    for _ in range(3):
        try:
            os.mkdir(name, 0o755, dir_fd=parent)
        except FileExistsError:
            pass
        try:
            opened = os.open(name, _DIRECTORY_FLAGS, dir_fd=parent)
        except OSError as error:
            if error.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            os.unlink(name, dir_fd=parent)  # a link or a file a step put there
            continue
        if os.fstat(opened).st_uid == os.geteuid():
            os.fchmod(opened, 0o755)  # whatever the umask: a root server's jobs read it
        return opened
    raise OSError(errno.ELOOP, f"{name} keeps being replaced")


def _copy_tree(source: str, target: int) -> None:
    with os.scandir(source) as entries:
        for entry in entries:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                os.symlink(os.readlink(entry.path), entry.name, dir_fd=target)
            elif stat.S_ISDIR(info.st_mode):
                os.mkdir(entry.name, 0o755, dir_fd=target)
                inner = os.open(entry.name, _DIRECTORY_FLAGS, dir_fd=target)
                try:
                    os.fchmod(inner, 0o755)
                    _copy_tree(entry.path, inner)
                finally:
                    os.close(inner)
            elif stat.S_ISREG(info.st_mode):
                _copy_file(entry.path, entry.name, target, info.st_mode)


def _copy_file(path: str, name: str, target: int, mode: int) -> None:
    # Readable by all: a root server's jobs run as another user.
    wanted = 0o755 if mode & 0o111 else 0o644
    source = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        written = os.open(name, flags, wanted, dir_fd=target)
        try:
            with (
                open(source, "rb", closefd=False) as reader,
                open(written, "wb", closefd=False) as writer,
            ):
                shutil.copyfileobj(reader, writer, 1 << 20)
            os.fchmod(written, wanted)
        finally:
            os.close(written)
    finally:
        os.close(source)


def _remove_directory_at(parent: int, name: str) -> None:
    """Remove ``name`` (in ``parent``) and all below it, following no link."""
    try:
        inner = os.open(name, _DIRECTORY_FLAGS, dir_fd=parent)
    except OSError:
        return
    try:
        for entry in os.scandir(inner):
            if entry.is_dir(follow_symlinks=False):
                _remove_directory_at(inner, entry.name)
            else:
                os.unlink(entry.name, dir_fd=inner)
    finally:
        os.close(inner)
    os.rmdir(name, dir_fd=parent)
