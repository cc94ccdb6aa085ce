"""The on-disk store behind ``actions/cache``: one archive per entry, per repository.

Layout: ``<store>/cache/<scope>/`` holds ``index.json`` (every entry's key, version,
size, creation and last use), the archives (``<id>.tar.zst``, ``.tar.gz`` or ``.tar``) and a
``lock`` file. A scope is one repository (``RunOptions.cache_scope``): its runs share
it, and nothing here ever reads another scope's directory.

As on GitHub, an entry is found by its key *and* its version (a hash of the ``path``
patterns and the compression, so two caches of different paths under one key never
collide), an entry is never replaced once saved (the first job to save a key wins),
and the scope is capped (10 GB by default): past the cap the entries used longest ago
go first, and entries unused for a week go anyway.

Safety: an archive arrives under a temporary name and is renamed into place only
when whole, and every change of the index happens under an exclusive ``flock`` of
the scope's lock file and is itself written to a temporary name, then renamed: two
jobs (or two ``conveyor run``) at once never leave half an entry or half an index.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

DEFAULT_MAX_BYTES = 10 * 1024 * 1024 * 1024  # GitHub's per-repository limit
MAX_IDLE_SECONDS = 7 * 24 * 3600  # GitHub evicts caches not accessed for a week
MAX_ENV = "CONVEYOR_CACHE_MAX_MB"
# Bumped when the archive layout changes, so that old entries are never misread.
_LAYOUT = "conveyor-cache-1"
_COPY_CHUNK = 4 * 1024 * 1024
ARCHIVE_SUFFIXES = (".tar.zst", ".tar.gz", ".tar")


class CacheStoreError(Exception):
    """The store cannot do what was asked; ``str`` says why."""


@dataclass
class CacheEntry:
    key: str
    version: str
    file: str  # the archive's name in the scope's directory
    size: int
    created: float
    used: float


@dataclass
class SaveResult:
    saved: bool
    message: str
    evicted: list[str]


def cache_version(patterns: list[str], compression: str) -> str:
    """What GitHub calls the cache version: the paths and the compression, hashed."""
    components = [*patterns, compression, _LAYOUT]
    return hashlib.sha256("|".join(components).encode()).hexdigest()


def max_bytes_from_environment(environ: dict[str, str] | None = None) -> int:
    """``CONVEYOR_CACHE_MAX_MB`` in bytes, else GitHub's 10 GB."""
    environ = os.environ if environ is None else environ
    text = environ.get(MAX_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    try:
        megabytes = float(text)
    except ValueError:
        raise CacheStoreError(f"{MAX_ENV}={text!r} is not a number of megabytes") from None
    if not megabytes > 0 or megabytes == float("inf"):
        raise CacheStoreError(f"{MAX_ENV}={text!r} must be a positive number of megabytes")
    return int(megabytes * 1024 * 1024)


def scope_directory_name(scope: str) -> str:
    """A directory name for ``scope``: readable, and unique through its hash."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", scope).strip("-.")[:60] or "scope"
    return f"{readable}-{hashlib.sha256(scope.encode()).hexdigest()[:16]}"


class CacheStore:
    """One scope's entries; safe to use from several threads and processes at once."""

    def __init__(self, store_dir: str, scope: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if not scope:
            raise CacheStoreError("a cache needs a scope (the repository); none was given")
        self.directory = os.path.join(store_dir, "cache", scope_directory_name(scope))
        self.max_bytes = max_bytes
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        self._index_path = os.path.join(self.directory, "index.json")

    # -- finding ------------------------------------------------------------------

    def lookup(self, keys: list[str], version: str, *, touch: bool = True) -> CacheEntry | None:
        """The entry GitHub would restore for ``keys`` (the primary key first, then the
        restore keys): for each key in turn, an exact match, else the newest entry whose
        key starts with it; only entries of ``version`` count."""
        with self._locked() as entries:
            found = _match(entries, keys, version)
            if found is not None and touch:
                found.used = time.time()
                self._write_index(entries)
            return found

    def has(self, key: str, version: str) -> bool:
        with self._locked() as entries:
            return _entry_id(key, version) in entries

    def archive_path(self, entry: CacheEntry) -> str:
        return os.path.join(self.directory, entry.file)

    @contextmanager
    def open_archive(self, entry: CacheEntry) -> Iterator[int]:
        """A read descriptor of ``entry``'s archive (it stays readable if evicted meanwhile)."""
        try:
            fd = os.open(
                os.path.join(self.directory, entry.file), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
            )
        except FileNotFoundError:
            self._forget(entry)
            raise CacheStoreError(f"the archive of cache entry {entry.key!r} is gone") from None
        try:
            yield fd
        finally:
            os.close(fd)

    def entries(self) -> list[CacheEntry]:
        with self._locked() as entries:
            return sorted(entries.values(), key=lambda entry: entry.created)

    # -- saving -------------------------------------------------------------------

    def save(self, key: str, version: str, source_fd: int, suffix: str) -> SaveResult:
        """Keep the archive read from ``source_fd`` (a regular file) as entry ``key``.

        Only whole archives become entries: the bytes go to a temporary name first, and
        the rename and the index change happen together under the lock. A key that
        another job saved first is left as it is (GitHub's entries are immutable)."""
        size = os.fstat(source_fd).st_size
        if size > self.max_bytes:
            return SaveResult(
                False,
                f"Cache size of ~{_megabytes(size)} MB ({size} B) is over the limit of "
                f"{_megabytes(self.max_bytes)} MB, not saving cache.",
                [],
            )
        if self.has(key, version):
            return SaveResult(False, _taken(key), [])
        entry_id = _entry_id(key, version)
        final_name = entry_id + suffix
        temporary = os.path.join(self.directory, f".{entry_id}.{os.urandom(6).hex()}.partial")
        try:
            _copy_exactly(source_fd, temporary, size)
            with self._locked() as entries:
                if entry_id in entries:
                    return SaveResult(False, _taken(key), [])
                os.replace(temporary, os.path.join(self.directory, final_name))
                now = time.time()
                entries[entry_id] = CacheEntry(key, version, final_name, size, now, now)
                evicted = self._evict(entries, keep=entry_id, now=now)
                self._write_index(entries)
                self._sweep(entries, now)
        finally:
            _unlink_quietly(temporary)
        return SaveResult(True, f"Cache saved with key: {key}", evicted)

    # -- internals ----------------------------------------------------------------

    def _evict(self, entries: dict[str, CacheEntry], keep: str, now: float) -> list[str]:
        """Drop entries idle for a week, then the least recently used past the cap."""
        evicted: list[str] = []
        for entry_id, entry in sorted(entries.items(), key=lambda item: item[1].used):
            total = sum(other.size for other in entries.values())
            idle = now - entry.used > MAX_IDLE_SECONDS
            if entry_id == keep or (total <= self.max_bytes and not idle):
                continue
            del entries[entry_id]
            _unlink_quietly(os.path.join(self.directory, entry.file))
            evicted.append(entry.key)
        return evicted

    def _sweep(self, entries: dict[str, CacheEntry], now: float) -> None:
        """Remove what a crash left: archives the index does not name (it changes only
        under the lock, which is held), and partial copies a day old."""
        named = {entry.file for entry in entries.values()}
        with os.scandir(self.directory) as found:
            for item in found:
                orphan = item.name.endswith(ARCHIVE_SUFFIXES) and item.name not in named
                stale = item.name.endswith(".partial") and now - item.stat().st_mtime > 86400
                if orphan or stale:
                    _unlink_quietly(item.path)

    def _forget(self, lost: CacheEntry) -> None:
        with self._locked() as entries:
            entries.pop(_entry_id(lost.key, lost.version), None)
            self._write_index(entries)

    @contextmanager
    def _locked(self) -> Iterator[dict[str, CacheEntry]]:
        fd = os.open(
            os.path.join(self.directory, "lock"),
            os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self._read_index()
        finally:
            os.close(fd)  # releases the lock

    def _read_index(self) -> dict[str, CacheEntry]:
        try:
            with open(self._index_path, encoding="utf-8") as handle:
                raw = json.load(handle)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable: start afresh rather than fail every job
        entries: dict[str, CacheEntry] = {}
        for entry_id, fields in raw.get("entries", {}).items():
            try:
                entries[entry_id] = CacheEntry(**fields)
            except TypeError:
                continue
        return entries

    def _write_index(self, entries: dict[str, CacheEntry]) -> None:
        temporary = f"{self._index_path}.{os.urandom(6).hex()}.partial"
        body = {"entries": {entry_id: asdict(entry) for entry_id, entry in entries.items()}}
        try:
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(body, handle)
            os.replace(temporary, self._index_path)
        finally:
            _unlink_quietly(temporary)


def _match(entries: dict[str, CacheEntry], keys: list[str], version: str) -> CacheEntry | None:
    candidates = [entry for entry in entries.values() if entry.version == version]
    for key in keys:
        exact = entries.get(_entry_id(key, version))
        if exact is not None:
            return exact
        prefixed = [entry for entry in candidates if entry.key.startswith(key)]
        if prefixed:
            return max(prefixed, key=lambda entry: entry.created)
    return None


def _entry_id(key: str, version: str) -> str:
    return hashlib.sha256(f"{version}\0{key}".encode()).hexdigest()[:40]


def _taken(key: str) -> str:
    return f"Unable to reserve cache with key {key}, another job may be creating this cache."


def _megabytes(size: int) -> int:
    return round(size / (1024 * 1024))


def _copy_exactly(source_fd: int, destination: str, size: int) -> None:
    """Copy ``size`` bytes from the start of ``source_fd`` to a new file, synced."""
    out = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        copy_between(source_fd, out, size)
        os.fsync(out)
    finally:
        os.close(out)


def copy_between(source_fd: int, out: int, size: int) -> int:
    """Copy up to ``size`` bytes from the start of ``source_fd`` to ``out`` in the kernel
    (``copy_file_range``: no trip through this process, a reflink where the file system
    offers one); returns how many were copied (fewer if the source shrank)."""
    copied = 0
    while copied < size:
        try:
            step = os.copy_file_range(source_fd, out, size - copied, copied)
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            step = _copy_by_reading(source_fd, out, copied, size - copied)
        if step == 0:
            break
        copied += step
    return copied


def _copy_by_reading(source_fd: int, out: int, offset: int, count: int) -> int:
    chunk = os.pread(source_fd, min(count, _COPY_CHUNK), offset)
    view = memoryview(chunk)
    while view:
        view = view[os.write(out, view) :]
    return len(chunk)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
