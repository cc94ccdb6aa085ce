"""The zip a person downloads is made from the stored tar.gz on the way: same files,
and only the regular files whose names stay inside (the tar.gz came from a job)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

from conveyor.server.runs.artifacts import _zip_chunks


def add(
    archive: tarfile.TarFile, name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE
) -> None:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.size = len(data) if kind == tarfile.REGTYPE else 0
    if kind == tarfile.SYMTYPE:
        member.linkname = "/etc/shadow"
    archive.addfile(member, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def test_regular_files_carried_over_and_crafted_entries_left_out(tmp_path: Path) -> None:
    stored = tmp_path / "artifact.tar.gz"
    big = bytes(range(256)) * 4096  # 1 MiB, several chunks
    with tarfile.open(stored, "w:gz") as archive:
        add(archive, "report.xml", b"<testsuite/>")
        add(archive, "bin/big.dat", big)
        add(archive, "../escape.txt", b"x")
        add(archive, "/abs.txt", b"x")
        add(archive, "link", kind=tarfile.SYMTYPE)
    pieces = list(_zip_chunks(str(stored)))
    assert len(pieces) > 2  # streamed, not made whole first
    with zipfile.ZipFile(io.BytesIO(b"".join(pieces))) as zipped:
        assert sorted(zipped.namelist()) == ["bin/big.dat", "report.xml"]
        assert zipped.read("bin/big.dat") == big
        assert zipped.testzip() is None
