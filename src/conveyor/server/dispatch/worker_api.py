"""The server's side of the worker protocol (``protocol.py``): ``/api/worker/...``:
heartbeats, claims, events, outcomes and environment gates here; artifacts in
``worker_artifacts``, the commit's git in ``worker_git``.

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

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_http_methods

from conveyor.engine.events import Event, event_from_json
from conveyor.server.dispatch import protocol, registry, routing
from conveyor.server.dispatch.launcher import outcome_from_json
from conveyor.server.dispatch.models import DispatchStatus, JobDispatch, Worker
from conveyor.server.dispatch.worker_http import (
    Refused,
    answered,
    attempt_of,
    check_worker,
    json_body,
    over,
)
from conveyor.server.runs.environments import JobWaiting
from conveyor.server.runs.models import Job


def _coordinated(dispatch: JobDispatch) -> registry.InFlight:
    entry = registry.get(dispatch.pk)
    if entry is None:
        raise Refused(503, f"run {dispatch.run_id} has no coordinator here yet")
    return entry


def _batch(data: dict[str, Any]) -> tuple[int, list[Event]]:
    seq = data.get("seq", 0)
    raw = data.get("events", [])
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise Refused(400, "seq is a whole number, 1 for the first batch")
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise Refused(400, "events is a list of JSON objects")
    try:
        return seq, [event_from_json(item) for item in raw]
    except ValueError as error:
        raise Refused(400, str(error)) from None


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


@answered
@require_http_methods(["POST"])
def heartbeat(request: HttpRequest) -> HttpResponse:
    check_worker(request)
    data = json_body(request)
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 200:
        raise Refused(400, "name is the worker's name (at most 200 characters)")
    labels = data.get("labels") or []
    running = data.get("running") or []
    if not isinstance(labels, list) or not isinstance(running, list):
        raise Refused(400, "labels and running are lists")
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


@answered
@require_http_methods(["POST"])
def claim(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    dispatch = attempt_of(request, dispatch_id)
    name = str(json_body(request).get("worker") or "").strip()
    if not name or len(name) > 200:
        raise Refused(400, "worker is the claiming worker's name")
    if dispatch.status != DispatchStatus.QUEUED:
        raise Refused(409, over(dispatch))
    entry = _coordinated(dispatch)
    with entry.lock:
        with transaction.atomic():
            # The row lock makes a second delivery of the same message wait here, then
            # find the attempt claimed.
            locked = JobDispatch.objects.select_for_update().get(pk=dispatch_id)
            if locked.status != DispatchStatus.QUEUED:
                raise Refused(409, over(locked))
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
    dispatch = attempt_of(request, dispatch_id)
    if dispatch.status != DispatchStatus.RUNNING:
        raise Refused(409, over(dispatch))
    return dispatch, _coordinated(dispatch)


@answered
@require_http_methods(["POST"])
def events(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    dispatch = attempt_of(request, dispatch_id)
    seq, batch = _batch(json_body(request))
    if dispatch.status != DispatchStatus.RUNNING:
        raise Refused(409, over(dispatch))
    entry = _coordinated(dispatch)
    with entry.lock:
        if not _store_batch(entry, dispatch_id, seq, batch):
            raise Refused(409, over(JobDispatch.objects.get(pk=dispatch_id)))
    return JsonResponse({"cancel": entry.cancellation.cancelled})


@answered
@require_http_methods(["POST"])
def finish(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    dispatch = attempt_of(request, dispatch_id)
    data = json_body(request)
    seq, batch = _batch(data)
    if "outcome" not in data:
        raise Refused(400, "outcome is the job's JobOutcome")
    if dispatch.status == DispatchStatus.FINISHED:
        return JsonResponse({})  # a resend of a finish that was stored
    if dispatch.status != DispatchStatus.RUNNING:
        raise Refused(409, over(dispatch))
    entry = _coordinated(dispatch)
    with entry.lock:
        if not _store_batch(entry, dispatch_id, seq, batch):
            current = JobDispatch.objects.get(pk=dispatch_id)
            if current.status == DispatchStatus.FINISHED:
                return JsonResponse({})
            raise Refused(409, over(current))
        now = timezone.now()
        JobDispatch.objects.filter(pk=dispatch_id, status=DispatchStatus.RUNNING).update(
            status=DispatchStatus.FINISHED, outcome=data["outcome"], finished_at=now
        )
        entry.open_steps.clear()
    entry.finish(outcome_from_json(entry.plan, data["outcome"]))
    return JsonResponse({})


@answered
@require_http_methods(["POST"])
def environment(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    from conveyor.server.dispatch.gates import GateCall

    dispatch, entry = _running(request, dispatch_id)
    data = json_body(request)
    name = data.get("name")
    url = data.get("url") or ""
    if not isinstance(name, str) or not name.strip() or not isinstance(url, str):
        raise Refused(400, "name is the environment's name, url a string")
    with entry.lock:
        call = entry.gates.get(name)
        if call is None:
            call = entry.gates[name] = GateCall(entry, dispatch.run, name, url)
            call.start()
    status, answer = call.answer()
    return JsonResponse(answer, status=status)


@answered
@require_http_methods(["POST"])
def environment_release(request: HttpRequest, dispatch_id: int) -> HttpResponse:
    from conveyor.engine.events import Status

    _, entry = _running(request, dispatch_id)
    data = json_body(request)
    try:
        status = Status(data.get("status"))
    except ValueError:
        raise Refused(400, "status is the job's status (success, failure, cancelled)") from None
    url = data.get("url") or ""
    registry.release_gates(entry, status, url if isinstance(url, str) else "")
    return JsonResponse({})
