"""Validated workflows kept on disk, so that an unchanged file is not parsed again.

Like Python's ``.pyc`` files: PyYAML and the parser are more than half of what
``conveyor run`` costs to start, and most runs read a file they read before.

- An entry holds its key in full: everything the parse depended on (Conveyor's
  version, Python's, the parser's own source files by name, size and time, the
  name messages give the file, and the file's bytes). It is used only when that
  key is equal byte for byte, so an edited file, another Conveyor or a changed
  parser in a development checkout is parsed afresh: a run never sees a stale
  workflow. The entry's file name only says where to look (one entry per
  workflow file on disk, replaced when the file changes).
- Only valid workflows are kept. A file with problems is parsed on every run,
  so its messages (``file:line:column``) are always the parser's own.
- Entries are pickles, and unpickling can call what the data names. So they are
  read only from a directory of this user's that nobody else may write to, only
  from plain files this user owns, and only the model's own classes may be named
  in one. An entry that cannot be used for any reason (cut short, corrupt, from
  an older format, refused) counts as absent and is written again.
- An entry is written under a temporary name and renamed into place: a reader
  sees a whole entry or none. A cache that cannot be written (read-only home,
  full disk) only means the next run parses again. Past ``MAX_ENTRIES`` entries,
  writing one removes those written longest ago.
"""

from __future__ import annotations

import io
import os
import pickle
import stat
import sys
import zlib
from typing import Any

from conveyor import __version__
from conveyor.workflow import errors, model

FORMAT = b"conveyor parsed workflow 2\n"
ENTRY_SUFFIX = ".workflow"
MAX_ENTRIES = 500
_LENGTH_BYTES = 8
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def entry_key(data: bytes, shown: str) -> bytes:
    """What the model parsed from ``data`` (named ``shown`` in messages) depends on."""
    return b"\0".join(
        (
            FORMAT,
            __version__.encode(),
            sys.version.encode(),
            _parser_fingerprint(),
            shown.encode("utf-8", "surrogateescape"),
            data,  # last: the only part that may hold NUL bytes
        )
    )


def entry_path(directory: str, source: str | os.PathLike[str]) -> str:
    """Where the entry of the workflow file ``source`` lives in ``directory``."""
    where = os.path.abspath(os.fspath(source)).encode("utf-8", "surrogateescape")
    return os.path.join(directory, f"{zlib.crc32(where):08x}{ENTRY_SUFFIX}")


def read_entry(path: str, key: bytes) -> model.Workflow | None:
    """The workflow kept at ``path`` for ``key``, or None."""
    blob = _read_private_file(path)
    header = _header(key)
    if blob is None or not blob.startswith(header):
        return None
    try:
        workflow = _ModelUnpickler(io.BytesIO(memoryview(blob)[len(header) :])).load()
    except Exception:  # corrupt data raises nearly anything: then there is no entry
        return None
    return workflow if isinstance(workflow, model.Workflow) else None


def write_entry(path: str, key: bytes, workflow: model.Workflow) -> None:
    """Keep ``workflow`` at ``path`` for ``key``; quietly not when that cannot be done."""
    directory = os.path.dirname(path)
    try:
        payload = pickle.dumps(workflow, protocol=pickle.HIGHEST_PROTOCOL)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not _is_private_directory(directory):
            return
        import tempfile  # only when an entry is written

        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".entry-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(_header(key))
                handle.write(payload)
            os.replace(temporary, path)
        except BaseException:
            _remove(temporary)
            raise
        _forget_oldest(directory)
    except (OSError, pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return


def _forget_oldest(directory: str, keep: int | None = None) -> None:
    """At most ``MAX_ENTRIES``: the entries written longest ago go (files deleted or
    moved away leave theirs behind; only a write, never a run's read, pays for this)."""
    keep = MAX_ENTRIES if keep is None else keep
    with os.scandir(directory) as listing:
        found = [entry for entry in listing if entry.name.endswith(ENTRY_SUFFIX)]
    if len(found) <= keep:
        return
    ages = []
    for entry in found:
        try:
            ages.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.path))
        except OSError:
            continue  # removed meanwhile
    for _, old in sorted(ages)[: len(ages) - keep]:
        _remove(old)


def _header(key: bytes) -> bytes:
    return FORMAT + len(key).to_bytes(_LENGTH_BYTES, "big") + key


def _read_private_file(path: str) -> bytes | None:
    try:
        if not _is_private_directory(os.path.dirname(path)):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                return None
            return handle.read()
        except OSError:
            return None


def _is_private_directory(directory: str) -> bool:
    """Ours, a real directory (not a link to one), and writable by nobody else."""
    info = os.lstat(directory)
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.geteuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _parser_fingerprint() -> bytes:
    """Path, size and modification time of every source file of ``conveyor.workflow``."""
    found: list[str] = []
    pending = [_PACKAGE_DIR]
    while pending:
        with os.scandir(pending.pop()) as listing:
            for entry in listing:
                if entry.name.endswith(".py"):
                    info = entry.stat()
                    found.append(f"{entry.path} {info.st_size} {info.st_mtime_ns}")
                elif entry.name != "__pycache__" and entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
    return "\n".join(sorted(found)).encode("utf-8", "surrogateescape")


def _model_classes() -> dict[tuple[str, str], type]:
    classes: dict[tuple[str, str], type] = {
        (errors.__name__, "Position"): errors.Position,
    }
    for name, value in vars(model).items():
        if isinstance(value, type) and value.__module__ == model.__name__:
            classes[(model.__name__, name)] = value
    return classes


class _ModelUnpickler(pickle.Unpickler):
    """Builds nothing but the workflow model: any other name in an entry is refused."""

    _allowed = _model_classes()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a workflow") from None
