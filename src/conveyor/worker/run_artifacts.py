"""The artifacts other jobs of the run uploaded, brought to the worker of a job that
downloads them (``actions/download-artifact``): the server keeps a run's artifacts,
each worker only the ones its own jobs made."""

from __future__ import annotations

import logging
import os
import tarfile
import tempfile
from pathlib import Path

from conveyor.server.dispatch.protocol import job_path
from conveyor.worker.client import ServerClient, ServerUnreachable

logger = logging.getLogger("conveyor.worker")

# A file's (size, modification time): what the job found, so only what it made goes back.
Found = dict[str, tuple[int, int]]


def wants_run_artifacts(workflow_source: str) -> bool:
    """Whether a job of this workflow may download artifacts (a cheap look at its text:
    a needless fetch costs one request, a missed one a failed job)."""
    return "download-artifact" in workflow_source


def fetch_run_artifacts(
    client: ServerClient, dispatch_id: int, job_token: str, destination: Path
) -> Found:
    """Unpack the run's artifacts into the job's artifacts directory; what is there then.

    Raises ``RuntimeError`` saying why when they cannot be had."""
    with tempfile.TemporaryFile() as archive:
        try:
            status = client.download(
                job_path(dispatch_id, "artifacts.tar"), archive, job_token=job_token
            )
        except ServerUnreachable as error:
            raise RuntimeError(f"the run's artifacts: {error}") from None
        if status != 200:
            raise RuntimeError(f"the run's artifacts: the server answered HTTP {status}")
        archive.seek(0)
        with tarfile.open(fileobj=archive, mode="r:") as bundle:
            # The data filter refuses links out, absolute names and devices.
            bundle.extractall(destination, filter="data")
    return files_in(destination)


def files_in(root: Path) -> Found:
    found: Found = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            if path.is_symlink():
                continue
            stat = path.stat()
            found[path.relative_to(root).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return found
