"""A run's artifacts on disk: what ``actions/upload-artifact`` kept, for later jobs and people.

One directory per run (``engine.options.run_artifacts_dir``), one sub-directory per artifact,
named as the artifact::

    <run's artifacts dir>/
        <name>/artifact.tar.gz   the files, paths relative to the upload's root
        <name>/artifact.json     id, size, sha-256 digest, file count, job, expiry
        :lock  :ids              serialise writers; the last id given
        :staging-<hex>/          an upload on its way in

Names never contain ``:`` (GitHub forbids it), so the store's own entries cannot
collide with an artifact. An artifact appears whole or not at all: it is written
under a staging name and renamed into place, under the lock that also keeps names
unique. The archive was made by the job's own processes and is never unpacked
here: only copied in, listed, served and copied out again.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.engine.options import RunOptions

ARCHIVE = "artifact.tar.gz"
METADATA = "artifact.json"
_LOCK = ":lock"
_IDS = ":ids"
_STAGING = ":staging-"
_OLD = ":old-"
# What GitHub refuses in an artifact name; "/" and "\\" would also leave the directory.
FORBIDDEN_CHARACTERS = '":<>|*?\\/\r\n'
_COPY_CHUNK = 1024 * 1024


class ArtifactError(Exception):
    """An upload or download the store refuses; the message says why."""


@dataclass(frozen=True)
class Artifact:
    id: int
    name: str
    size: int  # bytes of the archive
    digest: str  # the archive's sha-256 (hex), as GitHub's artifact-digest
    files: int
    job_key: str
    created_at: float  # seconds since the epoch
    expires_at: float | None  # retention-days; None: kept as long as the run
    path: str  # the archive on disk

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def run_artifacts(options: RunOptions) -> ArtifactStore:
    """The store of the run ``options`` describe."""
    from conveyor.engine.options import run_artifacts_dir

    return ArtifactStore(run_artifacts_dir(options))


def artifact_url(options: RunOptions, artifact: Artifact) -> str:
    """Where a person gets ``artifact``: the server's address, else its file."""
    from urllib.parse import quote

    if options.artifact_url:
        return options.artifact_url.format(id=artifact.id, name=quote(artifact.name, safe=""))
    return "file://" + quote(artifact.path)


def list_run_artifacts(options: RunOptions) -> list[dict[str, Any]]:
    """The run's artifacts as plain data (the ``artifacts`` event), oldest first."""
    return [
        {**artifact.to_json(), "url": artifact_url(options, artifact)}
        for artifact in run_artifacts(options).list()
    ]


def check_name(name: str) -> str | None:
    """Why ``name`` cannot name an artifact, or None when it can."""
    if not name.strip():
        return "the artifact name is empty"
    bad = sorted({c for c in name if c in FORBIDDEN_CHARACTERS})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        return f"the artifact name {name!r} contains {shown}, which artifact names may not"
    if name in (".", ".."):
        return f"the artifact name {name!r} is not allowed"
    return None


class ArtifactStore:
    """The artifacts of one run, kept in ``root``."""

    def __init__(self, root: str) -> None:
        self.root = root

    def list(self) -> list[Artifact]:
        """Every artifact of the run, oldest upload first."""
        try:
            entries = os.listdir(self.root)
        except FileNotFoundError:
            return []
        found = []
        for entry in entries:
            if ":" in entry:
                continue
            artifact = self.get(entry)
            if artifact is not None:
                found.append(artifact)
        return sorted(found, key=lambda a: a.id)

    def get(self, name: str) -> Artifact | None:
        if check_name(name) is not None:
            return None
        directory = os.path.join(self.root, name)
        try:
            with open(os.path.join(directory, METADATA), encoding="utf-8") as handle:
                data = json.load(handle)
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None
        return Artifact(
            id=int(data["id"]),
            name=name,
            size=int(data["size"]),
            digest=str(data["digest"]),
            files=int(data.get("files", 0)),
            job_key=str(data.get("job_key", "")),
            created_at=float(data.get("created_at", 0)),
            expires_at=data.get("expires_at"),
            path=os.path.join(directory, ARCHIVE),
        )

    def add(
        self,
        name: str,
        source_fd: int,
        *,
        overwrite: bool,
        files: int,
        job_key: str,
        retention_days: int | None = None,
    ) -> Artifact:
        """Keep the archive read from ``source_fd`` as artifact ``name``.

        Raises ``ArtifactError`` when the name is taken and ``overwrite`` is false.
        """
        problem = check_name(name)
        if problem:
            raise ArtifactError(problem)
        os.makedirs(self.root, exist_ok=True)
        staging = os.path.join(self.root, _STAGING + os.urandom(8).hex())
        os.mkdir(staging)
        try:
            size, digest = _copy_hashing(source_fd, os.path.join(staging, ARCHIVE))
            with self._locked():
                target = os.path.join(self.root, name)
                if os.path.lexists(target) and not overwrite:
                    raise ArtifactError(_taken(name))
                now = time.time()
                metadata = {
                    "id": self._next_id(),
                    "size": size,
                    "digest": digest,
                    "files": files,
                    "job_key": job_key,
                    "created_at": now,
                    "expires_at": now + retention_days * 86400 if retention_days else None,
                }
                _write_json(os.path.join(staging, METADATA), metadata)
                old = None
                if os.path.lexists(target):
                    old = os.path.join(self.root, _OLD + os.urandom(8).hex())
                    os.rename(target, old)
                os.rename(staging, target)
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        artifact = self.get(name)
        assert artifact is not None
        return artifact

    def taken(self, name: str) -> str | None:
        """Why ``name`` cannot be uploaded without ``overwrite``, or None."""
        return _taken(name) if os.path.lexists(os.path.join(self.root, name)) else None

    def remove_expired(self, now: float | None = None) -> list[str]:
        """Delete the artifacts whose retention-days have passed; returns their names."""
        now = time.time() if now is None else now
        gone = []
        with self._locked():
            for artifact in self.list():
                if artifact.expires_at is not None and artifact.expires_at <= now:
                    shutil.rmtree(os.path.join(self.root, artifact.name), ignore_errors=True)
                    gone.append(artifact.name)
        return gone

    @contextmanager
    def _locked(self) -> Iterator[None]:
        os.makedirs(self.root, exist_ok=True)
        import fcntl

        # flock is held per open file: threads of one process exclude each other too.
        fd = os.open(os.path.join(self.root, _LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _next_id(self) -> int:
        path = os.path.join(self.root, _IDS)
        try:
            with open(path, encoding="utf-8") as handle:
                last = int(handle.read().strip() or 0)
        except (FileNotFoundError, ValueError):
            last = 0
        _write_text(path, str(last + 1))
        return last + 1


def _taken(name: str) -> str:
    return (
        f"an artifact named {name!r} was already uploaded in this run; "
        "give another name, or overwrite: true to replace it"
    )


def _copy_hashing(source_fd: int, destination: str) -> tuple[int, str]:
    import hashlib

    digest = hashlib.sha256()
    size = 0
    fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        while True:
            chunk = os.read(source_fd, _COPY_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            view = memoryview(chunk)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    return size, digest.hexdigest()


def _write_json(path: str, data: dict[str, object]) -> None:
    _write_text(path, json.dumps(data))


def _write_text(path: str, text: str) -> None:
    partial = f"{path}.{os.urandom(4).hex()}"
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)


def format_size(size: int) -> str:
    """``512 B``, ``12.3 kB``, ``4.0 MB``: sizes as people read them."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"
