"""The cache store on its own: matching, the size cap, two savers at once, whole entries only."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from conveyor.actions.cache_store import (
    CacheStore,
    CacheStoreError,
    cache_version,
    max_bytes_from_environment,
)

VERSION = cache_version(["deps"], "zstd")


def archive(tmp_path: Path, name: str, size: int, fill: bytes = b"x") -> int:
    path = tmp_path / name
    path.write_bytes(fill * size)
    return os.open(path, os.O_RDONLY)


def save(store: CacheStore, tmp_path: Path, key: str, size: int = 10, fill: bytes = b"x"):
    fd = archive(tmp_path, f"in-{key}-{fill.hex()}", size, fill)
    try:
        return store.save(key, VERSION, fd, ".tar.zst")
    finally:
        os.close(fd)


def contents(store: CacheStore, key: str) -> bytes:
    entry = store.lookup([key], VERSION)
    assert entry is not None
    with store.open_archive(entry) as fd:
        return os.read(fd, 1 << 20)


def test_exact_key_then_prefixes_newest_first_and_only_the_same_version(tmp_path):
    store = CacheStore(str(tmp_path / "s"), "acme/app")
    save(store, tmp_path, "deps-linux-aaa", fill=b"a")
    time.sleep(0.01)
    save(store, tmp_path, "deps-linux-bbb", fill=b"b")
    assert store.lookup(["deps-linux-aaa"], VERSION).key == "deps-linux-aaa"
    assert store.lookup(["deps-linux-zzz", "deps-linux-"], VERSION).key == "deps-linux-bbb"
    assert store.lookup(["deps-mac-", "deps-"], VERSION).key == "deps-linux-bbb"
    assert store.lookup(["deps-"], cache_version(["other"], "zstd")) is None
    assert store.lookup(["nothing"], VERSION) is None


def test_the_least_recently_used_entries_go_past_the_cap(tmp_path):
    store = CacheStore(str(tmp_path / "s"), "acme/app", max_bytes=300)
    for key in ("one", "two", "three"):
        assert save(store, tmp_path, key, size=100).saved
        time.sleep(0.01)
    store.lookup(["one"], VERSION)  # "one" used again: "two" is now the oldest use
    result = save(store, tmp_path, "four", size=100)
    assert result.evicted == ["two"]
    assert sorted(entry.key for entry in store.entries()) == ["four", "one", "three"]
    names = sorted(os.listdir(store.directory))
    assert len([name for name in names if name.endswith(".tar.zst")]) == 3


def test_an_archive_over_the_cap_is_refused(tmp_path):
    store = CacheStore(str(tmp_path / "s"), "acme/app", max_bytes=50)
    result = save(store, tmp_path, "big", size=51)
    assert not result.saved
    assert "over the limit" in result.message
    assert store.entries() == []


def test_an_entry_idle_for_a_week_goes(tmp_path):
    store = CacheStore(str(tmp_path / "s"), "acme/app")
    save(store, tmp_path, "old")
    with store._locked() as entries:  # as if last used eight days ago
        for entry in entries.values():
            entry.used -= 8 * 24 * 3600
        store._write_index(entries)
    assert save(store, tmp_path, "new").evicted == ["old"]


def test_scopes_are_apart(tmp_path):
    one = CacheStore(str(tmp_path / "s"), "repository-1")
    two = CacheStore(str(tmp_path / "s"), "repository-2")
    save(one, tmp_path, "key")
    assert two.lookup(["key"], VERSION) is None
    assert one.directory != two.directory


def test_the_cap_comes_from_the_environment(tmp_path):
    assert max_bytes_from_environment({"CONVEYOR_CACHE_MAX_MB": "2"}) == 2 * 1024 * 1024
    assert max_bytes_from_environment({}) == 10 * 1024**3
    with pytest.raises(CacheStoreError, match="CONVEYOR_CACHE_MAX_MB='lots'"):
        max_bytes_from_environment({"CONVEYOR_CACHE_MAX_MB": "lots"})


def test_two_threads_saving_one_key_leave_one_whole_entry(tmp_path):
    store = CacheStore(str(tmp_path / "s"), "acme/app")
    size = 8 * 1024 * 1024
    barrier = threading.Barrier(2)
    results = []

    def saver(fill: bytes) -> None:
        fd = archive(tmp_path, f"in-{fill.hex()}", size, fill)
        barrier.wait()
        try:
            results.append(store.save("same", VERSION, fd, ".tar.zst"))
        finally:
            os.close(fd)

    threads = [threading.Thread(target=saver, args=(fill,)) for fill in (b"a", b"b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(result.saved for result in results) == [False, True]
    data = contents(store, "same")
    assert data in (b"a" * len(data), b"b" * len(data))
    assert len(store.entries()) == 1
    assert not [name for name in os.listdir(store.directory) if name.endswith(".partial")]


def _save_in_process(directory: str, source: str, start: float) -> bool:
    store = CacheStore(directory, "acme/app")
    while time.time() < start:
        time.sleep(0.001)
    fd = os.open(source, os.O_RDONLY)
    try:
        return store.save("same", VERSION, fd, ".tar.zst").saved
    finally:
        os.close(fd)


def test_two_processes_saving_one_key_leave_one_whole_entry(tmp_path):
    """Two ``conveyor run`` at once share the store through the lock file."""
    sources = []
    for fill in (b"a", b"b"):
        path = tmp_path / f"src-{fill.hex()}"
        path.write_bytes(fill * (4 * 1024 * 1024))
        sources.append(str(path))
    start = time.time() + 0.5
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        saved = pool.starmap(
            _save_in_process, [(str(tmp_path / "s"), source, start) for source in sources]
        )
    assert sorted(saved) == [False, True]
    store = CacheStore(str(tmp_path / "s"), "acme/app")
    assert len(store.entries()) == 1
    data = contents(store, "same")
    assert len(data) == 1 << 20 and len(set(data)) == 1


def test_what_a_crash_left_is_swept_at_the_next_save(tmp_path):
    store = CacheStore(str(tmp_path / "s"), "acme/app")
    orphan = Path(store.directory, "0123.tar.zst")
    orphan.write_bytes(b"an archive whose index entry was never written")
    old_partial = Path(store.directory, ".abc.partial")
    old_partial.write_bytes(b"half")
    os.utime(old_partial, (time.time() - 2 * 86400,) * 2)
    fresh_partial = Path(store.directory, ".def.partial")
    fresh_partial.write_bytes(b"another job is copying this one")
    save(store, tmp_path, "key")
    assert not orphan.exists()
    assert not old_partial.exists()
    assert fresh_partial.exists()
    assert [entry.key for entry in store.entries()] == ["key"]


def test_the_compression_is_zstd_when_the_machine_has_it_unless_chosen():
    from conveyor.actions.cache_archive import archive_suffix, compression_method

    found = "zstd" if shutil.which("zstd") else "gzip"
    assert compression_method(environ={}) == found
    assert compression_method(environ={"CONVEYOR_CACHE_COMPRESSION": "none"}) == "none"
    assert compression_method(environ={"CONVEYOR_CACHE_COMPRESSION": "GZIP"}) == "gzip"
    assert compression_method(environ={"CONVEYOR_CACHE_COMPRESSION": "brotli"}) == found
    assert compression_method(path="/nonexistent", environ={}) == "gzip"
    assert [archive_suffix(name) for name in ("zstd", "gzip", "none")] == [
        ".tar.zst",
        ".tar.gz",
        ".tar",
    ]
    # Entries of one compression are not read as another's.
    assert cache_version(["deps"], "zstd") != cache_version(["deps"], "none")
