"""The worker API's git: the job's repository fetched over git's smart HTTP from the
server's mirror (``git upload-pack``, protocol v0 and v2; fetch only, that repository
only)."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_http_methods

from conveyor.server.dispatch.models import DispatchStatus, JobDispatch
from conveyor.server.dispatch.worker_http import Refused, answered, attempt_of, over
from conveyor.server.runs import workspace
from conveyor.server.runs.artifacts import streamed_async

_CHUNK = 256 * 1024
_GIT_PROTOCOL = re.compile(r"version=[0-9]+(:version=[0-9]+)*")


def _mirror(dispatch: JobDispatch) -> Path:
    mirror = workspace.mirror_path(dispatch.run.repository)
    if not (mirror / "HEAD").exists():
        raise Refused(404, f"repository {dispatch.run.repository.name} has no mirror here")
    return mirror


def _git_environment(request: HttpRequest) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("GIT_")
        and name not in ("DATABASE_URL",)
        and not name.startswith("CONVEYOR_")
    }
    wanted = request.headers.get("Git-Protocol", "")
    if _GIT_PROTOCOL.fullmatch(wanted):
        env["GIT_PROTOCOL"] = wanted
    return env


def _pkt_line(text: str) -> bytes:
    data = text.encode()
    return f"{len(data) + 4:04x}".encode() + data


@answered
@require_http_methods(["GET"])
def git_info_refs(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    dispatch = attempt_of(request, dispatch_id)
    if request.GET.get("service") != "git-upload-pack":
        raise Refused(403, "only git-upload-pack (fetch) is served, and only smart HTTP")
    if dispatch.status != DispatchStatus.RUNNING:
        raise Refused(409, over(dispatch))
    env = _git_environment(request)
    completed = subprocess.run(
        ["git", "upload-pack", "--stateless-rpc", "--advertise-refs", str(_mirror(dispatch))],
        capture_output=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    if completed.returncode != 0:
        detail = completed.stderr.decode(errors="replace").strip()
        raise Refused(500, f"git upload-pack failed: {detail}")
    prefix = b""
    if "version=2" not in env.get("GIT_PROTOCOL", ""):
        prefix = _pkt_line("# service=git-upload-pack\n") + b"0000"
    response = HttpResponse(
        prefix + completed.stdout, content_type="application/x-git-upload-pack-advertisement"
    )
    response["Cache-Control"] = "no-cache"
    return response


@answered
@require_http_methods(["POST"])
def git_upload_pack(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    dispatch = attempt_of(request, dispatch_id)
    if dispatch.status != DispatchStatus.RUNNING:
        raise Refused(409, over(dispatch))
    body = request.read()
    if request.headers.get("Content-Encoding", "").lower() in ("gzip", "x-gzip"):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):
            raise Refused(400, "the gzip body cannot be read") from None
    process = subprocess.Popen(
        [
            "git",
            "-c",
            "uploadpack.allowAnySHA1InWant=true",
            "upload-pack",
            "--stateless-rpc",
            str(_mirror(dispatch)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_git_environment(request),
    )
    chunks = _pack_chunks(process, body)
    content: Iterator[bytes] | AsyncIterator[bytes]
    content = streamed_async(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type="application/x-git-upload-pack-result")
    response["Cache-Control"] = "no-cache"
    return response


def _pack_chunks(process: subprocess.Popen, body: bytes) -> Iterator[bytes]:
    def feed() -> None:
        try:
            assert process.stdin is not None
            process.stdin.write(body)
            process.stdin.close()
        except OSError:
            pass  # upload-pack ended early; its output says why

    writer = threading.Thread(target=feed, name="git upload-pack input", daemon=True)
    writer.start()
    assert process.stdout is not None
    try:
        while chunk := process.stdout.read1(_CHUNK):  # type: ignore[attr-defined]
            yield chunk
    finally:
        process.stdout.close()
        if process.poll() is None:
            process.kill()
        process.wait()
        writer.join()
