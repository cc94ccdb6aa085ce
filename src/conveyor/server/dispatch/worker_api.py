"""The server's side of the worker protocol (``protocol.py``): ``/api/worker/...``.

Every call must carry the workers' shared token (compared in constant time); every
call about a job also carries that attempt's token, of which the server keeps only
the digest. Answers, besides each endpoint's own:

- 400 ``{detail}``: a body that is not what the protocol says;
- 401 ``{detail}``: no or a wrong worker token; 403: a wrong job token;
- 404 ``{detail}``: no such dispatch, or this server sends no jobs to workers;
- 409 ``{detail}``: this attempt is over (finished, cancelled, its worker declared lost,
  or claimed by another delivery): the worker drops it and sends nothing more;
- 503 ``{detail}`` with ``Retry-After``: the job's run has no coordinator in this
  process (the server restarted): send the same again later.
"""

from __future__ import annotations

import gzip
import hmac
import json
import os
import re
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import transaction
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from conveyor.actions.artifact_store import METADATA, ArtifactStore
from conveyor.engine.events import Event, event_from_json
from conveyor.server.dispatch import protocol, registry, routing
from conveyor.server.dispatch.launcher import outcome_from_json
from conveyor.server.dispatch.models import DispatchStatus, JobDispatch, Worker
from conveyor.server.runs import artifacts, workspace
from conveyor.server.runs.environments import JobWaiting
from conveyor.server.runs.models import Job

RETRY_AFTER_SECONDS = 2
_METADATA_CAP = 1024 * 1024
_CHUNK = 256 * 1024
_GIT_PROTOCOL = re.compile(r"version=[0-9]+(:version=[0-9]+)*")


def _detail(status: int, detail: str) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=status)
    if status == 503:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.response = _detail(status, detail)


def _check_worker(request: HttpRequest) -> None:
    expected = getattr(settings, "CONVEYOR_WORKER_TOKEN", "")
    if not getattr(settings, "CONVEYOR_BROKER_URL", "") or not expected:
        raise _Refused(404, "this server sends no jobs to workers (CONVEYOR_BROKER_URL is unset)")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), expected.encode()
    ):
        raise _Refused(
            401, "a worker token (Authorization: Bearer CONVEYOR_WORKER_TOKEN) is needed"
        )


def _attempt(request: HttpRequest, dispatch_id: int) -> JobDispatch:
    _check_worker(request)
    dispatch = JobDispatch.objects.select_related("run__repository").filter(pk=dispatch_id).first()
    if dispatch is None:
        raise _Refused(404, f"no job dispatch {dispatch_id}")
    given = request.headers.get(protocol.JOB_TOKEN_HEADER, "")
    if not hmac.compare_digest(protocol.token_digest(given), dispatch.token_hash):
        raise _Refused(403, f"the job token of dispatch {dispatch_id} is wrong")
    return dispatch


def _over(dispatch: JobDispatch) -> str:
    if dispatch.status == DispatchStatus.RUNNING:
        return f"dispatch {dispatch.pk} was claimed by {dispatch.worker_name}"
    if dispatch.status == DispatchStatus.QUEUED:
        return f"dispatch {dispatch.pk} was not claimed"
    reason = f": {dispatch.reason}" if dispatch.reason else ""
    return f"dispatch {dispatch.pk} is {dispatch.status}{reason}"


def _coordinated(dispatch: JobDispatch) -> registry.InFlight:
    entry = registry.get(dispatch.pk)
    if entry is None:
        raise _Refused(503, f"run {dispatch.run_id} has no coordinator here yet")
    return entry


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise _Refused(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise _Refused(400, "the body is a JSON object")
    return data


def _batch(data: dict[str, Any]) -> tuple[int, list[Event]]:
    seq = data.get("seq", 0)
    raw = data.get("events", [])
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise _Refused(400, "seq is a whole number, 1 for the first batch")
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise _Refused(400, "events is a list of JSON objects")
    try:
        return seq, [event_from_json(item) for item in raw]
    except ValueError as error:
        raise _Refused(400, str(error)) from None


def _answered(view: Any) -> Any:
    """Turns ``_Refused`` into its answer; the worker API takes no CSRF token."""

    def answer(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except _Refused as refused:
            return refused.response

    answer.__name__ = view.__name__
    answer.__doc__ = view.__doc__
    return csrf_exempt(answer)


def _store_batch(entry: registry.InFlight, dispatch_id: int, seq: int, events: list[Event]) -> bool:
    """Feed one batch to the run's sink unless it was stored already (a resend); with
    ``entry.lock`` held. False when the attempt is over."""
    current = JobDispatch.objects.filter(pk=dispatch_id).values("status", "events_stored").first()
    if current is None or current["status"] != DispatchStatus.RUNNING:
        return False
    now = timezone.now()
    if seq <= current["events_stored"]:
        JobDispatch.objects.filter(pk=dispatch_id).update(heartbeat_at=now)
        return True
    for event in events:
        entry.forward(event)
    JobDispatch.objects.filter(pk=dispatch_id, status=DispatchStatus.RUNNING).update(
        events_stored=seq, heartbeat_at=now
    )
    return True


# -- the endpoints --------------------------------------------------------------------


@_answered
@require_http_methods(["POST"])
def heartbeat(request: HttpRequest) -> HttpResponse:
    _check_worker(request)
    data = _body(request)
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 200:
        raise _Refused(400, "name is the worker's name (at most 200 characters)")
    labels = data.get("labels") or []
    running = data.get("running") or []
    if not isinstance(labels, list) or not isinstance(running, list):
        raise _Refused(400, "labels and running are lists")
    running_ids = [item for item in running if isinstance(item, int)]
    now = timezone.now()
    concurrency = data.get("concurrency")
    worker, _ = Worker.objects.update_or_create(
        name=name,
        defaults={
            "labels": sorted(
                {str(label).strip().lower() for label in labels if str(label).strip()}
            ),
            "system": str(data.get("system") or "")[:40],
            "machine": str(data.get("machine") or "")[:40],
            "concurrency": concurrency if isinstance(concurrency, int) and concurrency > 0 else 1,
            "version": str(data.get("version") or "")[:40],
            "started_at": _moment(data.get("started_at")),
            "last_seen_at": now,
            "stopped_at": now if data.get("stopping") else None,
        },
    )
    JobDispatch.objects.filter(
        pk__in=running_ids, status=DispatchStatus.RUNNING, worker_name=name
    ).update(heartbeat_at=now)
    states = {
        pk: (status, worker_name)
        for pk, status, worker_name in JobDispatch.objects.filter(pk__in=running_ids).values_list(
            "pk", "status", "worker_name"
        )
    }
    cancel = []
    for dispatch_id in running_ids:
        status, claimed_by = states.get(dispatch_id, (DispatchStatus.QUEUED, ""))
        entry = registry.get(dispatch_id)
        over = status in (DispatchStatus.LOST, DispatchStatus.CANCELLED, DispatchStatus.FINISHED)
        if over or (status == DispatchStatus.RUNNING and claimed_by != name):
            cancel.append(dispatch_id)  # an attempt that is not (or no longer) its own
        elif entry is not None and entry.cancellation.cancelled:
            cancel.append(dispatch_id)
    return JsonResponse({"queues": routing.queues_for(worker), "cancel": cancel})


def _moment(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            return None
        if parsed is not None and timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, UTC)
        return parsed
    return None


@_answered
@require_http_methods(["POST"])
def claim(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    dispatch = _attempt(request, dispatch_id)
    name = str(_body(request).get("worker") or "").strip()
    if not name or len(name) > 200:
        raise _Refused(400, "worker is the claiming worker's name")
    if dispatch.status != DispatchStatus.QUEUED:
        raise _Refused(409, _over(dispatch))
    entry = _coordinated(dispatch)
    with entry.lock:
        with transaction.atomic():
            # The row lock makes a second delivery of the same message wait here, then
            # find the attempt claimed.
            locked = JobDispatch.objects.select_for_update().get(pk=dispatch_id)
            if locked.status != DispatchStatus.QUEUED:
                raise _Refused(409, _over(locked))
            now = timezone.now()
            locked.status = DispatchStatus.RUNNING
            locked.worker = Worker.objects.filter(name=name).first()
            locked.worker_name = name
            locked.claimed_at = now
            locked.heartbeat_at = now
            shown = bool(locked.reason) or locked.attempt > 1
            locked.reason = ""
            locked.save(
                update_fields=[
                    "status",
                    "worker",
                    "worker_name",
                    "claimed_at",
                    "heartbeat_at",
                    "reason",
                ]
            )
        plan = entry.plan
        if shown:
            entry.emit(
                JobWaiting(
                    plan.job_key, "", job_id=plan.event_job_id, name=plan.name, matrix=plan.matrix
                )
            )
    Job.objects.filter(run_id=dispatch.run_id, job_key=plan.job_key).update(worker=name)
    base = settings.CONVEYOR_URL.rstrip("/")
    return JsonResponse(
        {
            "plan": plan.to_json(),
            "git_url": f"{base}{protocol.job_path(dispatch_id, 'git')}",
            "repository": dispatch.run.repository.name,
        }
    )


def _running(request: HttpRequest, dispatch_id: int) -> tuple[JobDispatch, registry.InFlight]:
    dispatch = _attempt(request, dispatch_id)
    if dispatch.status != DispatchStatus.RUNNING:
        raise _Refused(409, _over(dispatch))
    return dispatch, _coordinated(dispatch)


@_answered
@require_http_methods(["POST"])
def events(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    dispatch = _attempt(request, dispatch_id)
    seq, batch = _batch(_body(request))
    if dispatch.status != DispatchStatus.RUNNING:
        raise _Refused(409, _over(dispatch))
    entry = _coordinated(dispatch)
    with entry.lock:
        if not _store_batch(entry, dispatch_id, seq, batch):
            raise _Refused(409, _over(JobDispatch.objects.get(pk=dispatch_id)))
    return JsonResponse({"cancel": entry.cancellation.cancelled})


@_answered
@require_http_methods(["POST"])
def finish(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    dispatch = _attempt(request, dispatch_id)
    data = _body(request)
    seq, batch = _batch(data)
    if "outcome" not in data:
        raise _Refused(400, "outcome is the job's JobOutcome")
    if dispatch.status == DispatchStatus.FINISHED:
        return JsonResponse({})  # a resend of a finish that was stored
    if dispatch.status != DispatchStatus.RUNNING:
        raise _Refused(409, _over(dispatch))
    entry = _coordinated(dispatch)
    with entry.lock:
        if not _store_batch(entry, dispatch_id, seq, batch):
            current = JobDispatch.objects.get(pk=dispatch_id)
            if current.status == DispatchStatus.FINISHED:
                return JsonResponse({})
            raise _Refused(409, _over(current))
        now = timezone.now()
        JobDispatch.objects.filter(pk=dispatch_id, status=DispatchStatus.RUNNING).update(
            status=DispatchStatus.FINISHED, outcome=data["outcome"], finished_at=now
        )
        entry.open_steps.clear()
    entry.finish(outcome_from_json(entry.plan, data["outcome"]))
    return JsonResponse({})


@_answered
@require_http_methods(["POST"])
def environment(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    from conveyor.server.dispatch.gates import GateCall

    dispatch, entry = _running(request, dispatch_id)
    data = _body(request)
    name = data.get("name")
    url = data.get("url") or ""
    if not isinstance(name, str) or not name.strip() or not isinstance(url, str):
        raise _Refused(400, "name is the environment's name, url a string")
    with entry.lock:
        call = entry.gates.get(name)
        if call is None:
            call = entry.gates[name] = GateCall(entry, dispatch.run, name, url)
            call.start()
    status, answer = call.answer()
    return JsonResponse(answer, status=status)


@_answered
@require_http_methods(["POST"])
def environment_release(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    from conveyor.engine.events import Status

    _, entry = _running(request, dispatch_id)
    data = _body(request)
    try:
        status = Status(data.get("status"))
    except ValueError:
        raise _Refused(400, "status is the job's status (success, failure, cancelled)") from None
    url = data.get("url") or ""
    registry.release_gates(entry, status, url if isinstance(url, str) else "")
    return JsonResponse({})


@_answered
@require_http_methods(["PUT"])
def artifact(request: HttpRequest, dispatch_id: int, path: str) -> HttpResponse:
    dispatch = _attempt(request, dispatch_id)
    if dispatch.status != DispatchStatus.RUNNING:
        raise _Refused(409, _over(dispatch))
    parts = path.split("/")
    if (
        path.startswith("/")
        or "\\" in path
        or any(part in ("", ".", "..") for part in parts)
        or "\x00" in path
    ):
        raise _Refused(400, f"artifact path {path!r} leaves the run's artifacts")
    if parts[0].startswith(":"):
        # The worker's own store bookkeeping (locks, ids): the server keeps its own.
        return JsonResponse({"stored": False}, status=200)
    root = Path(artifacts.run_artifacts_dir(dispatch.run_id)).resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or target == root:
        raise _Refused(400, f"artifact path {path!r} leaves the run's artifacts")
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


@_answered
@require_http_methods(["GET"])
def run_artifacts(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    """The run's artifacts as a tar, for a job that downloads what other jobs (on other
    workers) uploaded; the store's own lock and half-written uploads left out."""
    dispatch = _attempt(request, dispatch_id)
    if dispatch.status != DispatchStatus.RUNNING:
        raise _Refused(409, _over(dispatch))
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
        raise _Refused(400, f"{target.parent.name}/{METADATA} is not an artifact's metadata")
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


# -- git fetch over smart HTTP -------------------------------------------------------


def _mirror(dispatch: JobDispatch) -> Path:
    mirror = workspace.mirror_path(dispatch.run.repository)
    if not (mirror / "HEAD").exists():
        raise _Refused(404, f"repository {dispatch.run.repository.name} has no mirror here")
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


@_answered
@require_http_methods(["GET"])
def git_info_refs(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    dispatch = _attempt(request, dispatch_id)
    if request.GET.get("service") != "git-upload-pack":
        raise _Refused(403, "only git-upload-pack (fetch) is served, and only smart HTTP")
    if dispatch.status != DispatchStatus.RUNNING:
        raise _Refused(409, _over(dispatch))
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
        raise _Refused(500, f"git upload-pack failed: {detail}")
    prefix = b""
    if "version=2" not in env.get("GIT_PROTOCOL", ""):
        prefix = _pkt_line("# service=git-upload-pack\n") + b"0000"
    response = HttpResponse(
        prefix + completed.stdout, content_type="application/x-git-upload-pack-advertisement"
    )
    response["Cache-Control"] = "no-cache"
    return response


@_answered
@require_http_methods(["POST"])
def git_upload_pack(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    dispatch = _attempt(request, dispatch_id)
    if dispatch.status != DispatchStatus.RUNNING:
        raise _Refused(409, _over(dispatch))
    body = request.read()
    if request.headers.get("Content-Encoding", "").lower() in ("gzip", "x-gzip"):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):
            raise _Refused(400, "the gzip body cannot be read") from None
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
    content = _async(chunks) if isinstance(request, ASGIRequest) else chunks
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


_DONE = object()


async def _async(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    # Under ASGI a sync iterator would be read whole into memory before it is sent.
    next_chunk = sync_to_async(lambda: next(chunks, _DONE), thread_sensitive=False)
    while True:
        chunk = await next_chunk()
        if chunk is _DONE:
            return
        yield chunk  # type: ignore[misc]
