"""The worker API's artifacts: what a job uploaded on its worker, kept with the run
(``PUT``), and the run's artifacts for a job that downloads them (``GET``)."""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from pathlib import Path

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from conveyor.actions.artifact_store import METADATA, ArtifactStore
from conveyor.server.dispatch.models import DispatchStatus
from conveyor.server.dispatch.worker_http import Refused, answered, attempt_of, over
from conveyor.server.runs import artifacts

_METADATA_CAP = 1024 * 1024
_CHUNK = 256 * 1024


@answered
@require_http_methods(["PUT"])
def artifact(request: HttpRequest, dispatch_id: int, path: str) -> HttpResponse:
    dispatch = attempt_of(request, dispatch_id)
    if dispatch.status != DispatchStatus.RUNNING:
        raise Refused(409, over(dispatch))
    parts = path.split("/")
    if (
        path.startswith("/")
        or "\\" in path
        or any(part in ("", ".", "..") for part in parts)
        or "\x00" in path
    ):
        raise Refused(400, f"artifact path {path!r} leaves the run's artifacts")
    if parts[0].startswith(":"):
        # The worker's own store bookkeeping (locks, ids): the server keeps its own.
        return JsonResponse({"stored": False}, status=200)
    root = Path(artifacts.run_artifacts_dir(dispatch.run_id)).resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or target == root:
        raise Refused(400, f"artifact path {path!r} leaves the run's artifacts")
    target.parent.mkdir(parents=True, exist_ok=True)
    if len(parts) == 2 and parts[1] == METADATA:
        _store_metadata(request, root, target)
        return JsonResponse({"stored": True}, status=201)
    handle, staging = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := request.read(_CHUNK):
                out.write(chunk)
        os.replace(staging, target)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return JsonResponse({"stored": True}, status=201)


@answered
@require_http_methods(["GET"])
def run_artifacts(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    """The run's artifacts as a tar, for a job that downloads what other jobs (on other
    workers) uploaded; the store's own lock and half-written uploads left out."""
    dispatch = attempt_of(request, dispatch_id)
    if dispatch.status != DispatchStatus.RUNNING:
        raise Refused(409, over(dispatch))
    root = Path(artifacts.run_artifacts_dir(dispatch.run_id))
    bundle = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it when sent)
    with tarfile.open(fileobj=bundle, mode="w:") as archive:
        for directory, directories, names in os.walk(root):
            directories.sort()
            for name in sorted(names):
                path = Path(directory, name)
                if name == ":lock" or name.startswith(".upload-") or path.is_symlink():
                    continue
                archive.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
    bundle.seek(0)
    return FileResponse(bundle, content_type="application/x-tar")


def _store_metadata(request: HttpRequest, root: Path, target: Path) -> None:
    """An artifact's metadata, numbered in the run's store: each worker numbers the
    artifacts of its own job from 1, the run's artifacts need ids of their own."""
    raw = request.read(_METADATA_CAP + 1)
    try:
        data = json.loads(raw) if len(raw) <= _METADATA_CAP else None
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise Refused(400, f"{target.parent.name}/{METADATA} is not an artifact's metadata")
    store = ArtifactStore(str(root))
    with store._locked():
        try:
            kept = json.loads(target.read_text(encoding="utf-8")).get("id")
        except (OSError, ValueError, AttributeError):
            kept = None
        # The same upload sent again keeps the id it was given.
        data["id"] = kept if isinstance(kept, int) else store._next_id()
        handle, staging = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.replace(staging, target)
