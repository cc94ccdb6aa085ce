"""A run's artifacts on the server: kept with the run in ``<data>/artifacts/<run pk>``.

The engine writes them there (``actions/artifact_store.py``); the jobs never see the
data directory (their sandbox hides it), only the archives the engine copies into
their ``runner.temp``. An artifact lives as long as its run (deleted with it,
whatever deletes it: retention, the admin, a deleted repository), or less when
its upload asked for ``retention-days``.

Downloads stream the stored tar.gz as it is, or as a zip made on the way (what
GitHub hands out), never holding an archive in memory.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse

from conveyor.actions.artifact_store import Artifact, ArtifactStore

logger = logging.getLogger("conveyor.server.runs")

FORMATS = ("zip", "tar.gz")
_CHUNK = 256 * 1024
_DONE = object()


def artifacts_root() -> Path:
    return Path(settings.DATA_DIR) / "artifacts"


def run_artifacts_dir(run_pk: int) -> str:
    return str(artifacts_root() / str(run_pk))


def store_of(run_pk: int) -> ArtifactStore:
    return ArtifactStore(run_artifacts_dir(run_pk))


def artifact_url_template(repository_name: str, number: int) -> str:
    """What the engine fills with an artifact's name: its download on the run's page."""
    base = settings.CONVEYOR_URL.rstrip("/").replace("{", "{{").replace("}", "}}")
    return f"{base}/repos/{repository_name}/runs/{number}/artifacts/{{name}}"


def quote_name(name: str) -> str:
    """An artifact's name as the last part of a URL."""
    from urllib.parse import quote

    return quote(name, safe="")


def remove_run_artifacts(run_pk: int) -> None:
    shutil.rmtree(run_artifacts_dir(run_pk), ignore_errors=True)


def remove_expired_artifacts(now: float | None = None) -> int:
    """Delete the artifacts whose ``retention-days`` have passed, in every run; how many."""
    now = time.time() if now is None else now
    try:
        runs = os.listdir(artifacts_root())
    except FileNotFoundError:
        return 0
    removed = 0
    for entry in runs:
        if entry.isdigit():
            removed += len(ArtifactStore(str(artifacts_root() / entry)).remove_expired(now))
    return removed


def download(request: HttpRequest, artifact: Artifact, fmt: str) -> StreamingHttpResponse:
    """The artifact as a streamed attachment: its tar.gz, or a zip of the same files."""
    if fmt == "tar.gz":
        chunks: Iterator[bytes] = _file_chunks(artifact.path)
        content_type, filename = "application/gzip", f"{artifact.name}.tar.gz"
    else:
        chunks = _zip_chunks(artifact.path)
        content_type, filename = "application/zip", f"{artifact.name}.zip"
    content: Iterator[bytes] | AsyncIterator[bytes]
    content = streamed_async(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type=content_type)
    quoted = filename.replace("\\", "_").replace('"', "_")
    response["Content-Disposition"] = f'attachment; filename="{quoted}"'
    response["X-Content-Type-Options"] = "nosniff"
    if fmt == "tar.gz":
        response["Content-Length"] = str(artifact.size)
        response["Digest"] = f"sha-256={artifact.digest}"
    return response


async def streamed_async(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """``chunks`` for a streamed response under ASGI, each read in a worker thread:
    a sync iterator would be read whole into memory before it is sent."""
    next_chunk = sync_to_async(lambda: next(chunks, _DONE), thread_sensitive=False)
    while True:
        chunk = await next_chunk()
        if chunk is _DONE:
            return
        yield chunk  # type: ignore[misc]


def _file_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


class _Collected:
    """A write-only stream whose bytes are taken away as they come (zipfile's output)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def _zip_chunks(path: str) -> Iterator[bytes]:
    """The tar.gz's regular files as a zip, produced a piece at a time.

    The archive was made by a job: only regular files with relative names that stay
    inside are carried over (the zip is for a person to unpack)."""
    out = _Collected()
    with (
        tarfile.open(path, "r:gz") as archive,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zipped,
    ):
        for member in archive:
            name = member.name
            parts = name.split("/")
            if not member.isfile() or name.startswith("/") or ".." in parts:
                continue
            source = archive.extractfile(member)
            if source is None:
                continue
            stamp = max(time.localtime(member.mtime)[:6], (1980, 1, 1, 0, 0, 0))  # zip's epoch
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (member.mode & 0o777 | 0o100000) << 16
            with zipped.open(info, "w", force_zip64=member.size > 2**31) as target:
                while chunk := source.read(_CHUNK):
                    target.write(chunk)
                    if out.parts:
                        yield out.take()
            if out.parts:
                yield out.take()
    if out.parts:
        yield out.take()
