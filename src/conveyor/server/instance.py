"""What the server of a data directory keeps there about itself: a lock, an id, its URL.

- ``server.lock``: held (``flock``) by the running ``conveyor server`` and holding its
  pid, so a second server on the same data directory refuses to start instead of
  failing the first one's runs in its start-up recovery.
- ``server_id``: the id of this data directory's server, recorded on each run it
  claims; recovery fails only runs with this id (or none: older ones), never those
  of another server sharing the database.
- ``server_url``: the URL the server last listened on; ``conveyor repo add`` and
  the post-receive hooks post there unless ``CONVEYOR_URL`` says otherwise.

Neither Django nor anything heavy is imported here: the lock is taken before
Django starts.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "server.lock"
ID_NAME = "server_id"
URL_NAME = "server_url"


class DataDirectoryBusy(Exception):
    """Another process holds the data directory's lock; ``pid`` is its pid when known."""

    def __init__(self, path: Path, pid: int | None) -> None:
        holder = f"pid {pid}" if pid else "a process whose pid is not recorded yet"
        super().__init__(f"{path} is held by another conveyor server ({holder})")
        self.path = path
        self.pid = pid


def lock_data_directory(data: Path) -> int:
    """Take the data directory's lock for the life of this process; returns its file
    descriptor (kept open: closing it releases the lock). ``DataDirectoryBusy`` if
    another process holds it. The kernel drops the lock when the process ends, however
    it ends, so a killed server leaves nothing to clean up."""
    path = data / LOCK_NAME
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_pid(descriptor)
        os.close(descriptor)
        raise DataDirectoryBusy(path, holder) from None
    except OSError:
        os.close(descriptor)
        raise
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    return descriptor


def _read_pid(descriptor: int) -> int | None:
    try:
        return int(os.pread(descriptor, 32, 0).decode("ascii", "replace").strip())
    except (OSError, ValueError):
        return None


def server_id(data: Path) -> str:
    """This data directory's server id, made once (kept in ``server_id``)."""
    import uuid

    from conveyor.server.conf import kept_value

    return kept_value(data / ID_NAME, lambda: uuid.uuid4().hex)


def url_file(data: Path) -> Path:
    return data / URL_NAME


def record_url(data: Path, url: str) -> None:
    """Write ``server_url`` (replaced whole, so a reader never sees half of it)."""
    partial = data / f".{URL_NAME}.partial"
    partial.write_text(url.rstrip("/") + "\n", encoding="utf-8")
    partial.replace(url_file(data))


def recorded_url(data: Path) -> str:
    """The URL the data directory's server last listened on; "" when none was recorded."""
    try:
        text = url_file(data).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return text.rstrip("/") if text.startswith(("http://", "https://")) else ""
