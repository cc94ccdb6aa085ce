"""The trigger endpoints: ``/hooks/local/<name>`` and ``/hooks/<forge>/<name>``.

No login: the signature (or GitLab's token) is the authentication, checked before
anything else is read, so a bad one records and queues nothing. A delivery id
seen twice is run once: the ``Delivery`` row's unique constraint decides, so two
copies arriving at the same moment cannot both pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from conveyor.server.repos import git, ref_state, refnames
from conveyor.server.repos.forges import generic, gitea, github, gitlab
from conveyor.server.repos.forges.base import (
    ForgeEvent,
    Outcome,
    PayloadInvalid,
    SignatureInvalid,
    SignatureMissing,
    load_json_object,
)
from conveyor.server.repos.hooks.pushes import PushResult, runs_for_ref_update
from conveyor.server.repos.models import Delivery, Repository
from conveyor.server.repos.refnames import shown
from conveyor.server.runs.models import Run, Status
from conveyor.server.runs.services import (
    RunRequestInvalid,
    create_runs_for_event,
    create_runs_for_pull_request,
)

logger = logging.getLogger("conveyor.server.repos")

# GitHub caps a payload at 25 MB; Django's own 2.5 MB cap would refuse big pushes.
MAX_BODY_BYTES = 25 * 1024 * 1024


class _Forge:
    def __init__(
        self,
        verify: Callable[[Mapping[str, str], bytes, str], None],
        parse: Callable[[Mapping[str, str], bytes], ForgeEvent],
    ) -> None:
        self.verify = verify
        self.parse = parse


FORGES: dict[str, _Forge] = {
    "github": _Forge(github.verify, github.parse),
    "gitlab": _Forge(gitlab.verify, gitlab.parse),
    "gitea": _Forge(gitea.verify, gitea.parse),
    "generic": _Forge(generic.verify, generic.parse),
}


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"status": "error", "error": message}, status=status)


def _read_body(request: HttpRequest) -> bytes | None:
    body = request.read(MAX_BODY_BYTES + 1)
    return None if len(body) > MAX_BODY_BYTES else body


def _refused(error: SignatureInvalid) -> JsonResponse:
    # 401: no credentials at all; 403: credentials that do not match.
    status = 401 if isinstance(error, SignatureMissing) else 403
    return _error(status, f"signature check failed: {error}")


def _record_delivery(repository: Repository, provider: str, delivery_id: str, event: str) -> bool:
    """True if this delivery is new (and now recorded); no id: cannot tell, so True."""
    if not delivery_id:
        return True
    try:
        with transaction.atomic():
            Delivery.objects.create(
                repository=repository,
                provider=provider,
                delivery_id=delivery_id[:200],
                event=event[:100],
            )
    except IntegrityError:
        return False
    return True


def _forget_delivery(repository: Repository, provider: str, delivery_id: str) -> None:
    """A delivery whose runs could not be created is forgotten, so a retry can succeed."""
    if delivery_id:
        Delivery.objects.filter(
            repository=repository, provider=provider, delivery_id=delivery_id[:200]
        ).delete()


def _run_json(run: Run) -> dict[str, Any]:
    return {
        "number": run.number,
        "workflow": run.workflow_name or run.workflow_path,
        "status": run.status,
        "url": f"{settings.CONVEYOR_URL}/repos/{run.repository.name}/runs/{run.number}/",
    }


def _messages(ref: str, runs: list[Run]) -> list[str]:
    if not runs:
        return [f"{ref}: no workflow runs on this push"]
    messages = []
    for run in runs:
        line = f"{ref}: run #{run.number} ({run.workflow_name or run.workflow_path}) {run.status}"
        messages.append(f"{line}: {_run_json(run)['url']}")
        if run.status in (Status.FAILURE, Status.WAITING) and run.reason:
            # An invalid workflow fails at once, a fork's run may wait for approval:
            # say so where the pusher is looking.
            messages.extend(f"  {text}" for text in run.reason.splitlines()[:10])
    return messages


def _accepted(results: list[PushResult], extra_runs: list[Run] | None = None) -> JsonResponse:
    runs: list[Run] = list(extra_runs or [])
    messages: list[str] = []
    for run in runs:
        messages.extend(_messages(run.ref, [run]))
    for result in results:
        if result.deleted:
            messages.append(f"{result.ref} deleted: nothing to run")
        elif result.already_seen:
            messages.append(f"{result.ref}: already seen; not run again")
        else:
            runs.extend(result.runs)
            messages.extend(_messages(result.ref, result.runs))
    return JsonResponse(
        {"status": "accepted", "runs": [_run_json(run) for run in runs], "messages": messages}
    )


def _signed_delivery(
    request: HttpRequest, name: str, verify: Callable[[Any, bytes, str], None]
) -> tuple[Repository, bytes] | HttpResponse:
    """The repository and the body of a delivery whose signature ``verify`` accepts,
    or the answer that refuses it (unknown repository, body too large, bad signature)."""
    repository = Repository.objects.filter(name=name).first()
    if repository is None:
        return _error(404, f"no repository named {name!r} on this server")
    body = _read_body(request)
    if body is None:
        return _error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        verify(request.headers, body, repository.webhook_secret)
    except SignatureInvalid as error:
        return _refused(error)
    return repository, body


@csrf_exempt
@require_POST
def local_hook(request: HttpRequest, name: str) -> HttpResponse:
    """A local bare repository's ``post-receive`` hook reporting ``old new ref`` lines."""
    checked = _signed_delivery(request, name, generic.verify)
    if isinstance(checked, HttpResponse):
        return checked
    repository, body = checked
    try:
        delivery, pusher, updates = _parse_local(body)
    except PayloadInvalid as error:
        return _error(400, f"bad notification: {error}")
    if not _record_delivery(repository, "local", delivery, "push"):
        return JsonResponse({"status": "duplicate", "runs": [], "messages": []})
    results: list[PushResult] = []
    try:
        for before, after, ref in updates:
            results.append(
                runs_for_ref_update(repository, ref=ref, before=before, after=after, actor=pusher)
            )
    except git.GitError as error:
        _forget_delivery(repository, "local", delivery)
        return _error(502, f"cannot read the pushed commits of {name}: {error}")
    return _accepted(results)


def _parse_local(body: bytes) -> tuple[str, str, list[tuple[str, str, str]]]:
    data = load_json_object(body)
    lines = data.get("lines")
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise PayloadInvalid("field 'lines' must be a list of 'old new ref' strings")
    updates = []
    for number, line in enumerate(lines, start=1):
        parts = line.split(" ")
        if len(parts) != 3:
            raise PayloadInvalid(f"line {number} is not 'old-sha new-sha ref': {shown(line)}")
        try:
            # Zeros: the ref was created (old side) or deleted (new side), as git reports it.
            before = refnames.check_sha(parts[0], f"line {number} old-sha", zero_allowed=True)
            after = refnames.check_sha(parts[1], f"line {number} new-sha", zero_allowed=True)
            ref = refnames.check_ref(parts[2], f"line {number} ref")
        except refnames.NameInvalid as invalid:
            raise PayloadInvalid(str(invalid)) from None
        updates.append((before, after, ref))
    delivery = data.get("delivery", "")
    pusher = data.get("pusher", "")
    return (
        delivery if isinstance(delivery, str) else "",
        pusher if isinstance(pusher, str) else "",
        updates,
    )


@csrf_exempt
@require_POST
def forge_hook(request: HttpRequest, forge: str, name: str) -> HttpResponse:
    """A webhook delivery from ``forge`` (github, gitlab, gitea, generic)."""
    handler = FORGES[forge]
    checked = _signed_delivery(request, name, handler.verify)
    if isinstance(checked, HttpResponse):
        return checked
    repository, body = checked
    try:
        event = handler.parse(request.headers, body)
    except PayloadInvalid as error:
        return _error(400, f"bad {forge} delivery: {error}")
    if event.outcome is Outcome.PING:
        return HttpResponse("pong", content_type="text/plain")
    if event.deletes_ref:
        ref_state.forget(repository.id, event.ref)
    if event.outcome is Outcome.IGNORED:
        return JsonResponse({"status": "ignored", "reason": event.note}, status=202)
    if not _record_delivery(repository, forge, event.delivery_id, event.event):
        return JsonResponse(
            {"status": "duplicate", "runs": [], "messages": ["delivery already received"]}
        )
    try:
        return _start(repository, event, forge)
    except git.GitError as error:
        _forget_delivery(repository, forge, event.delivery_id)
        return _error(502, f"cannot read commit {event.sha} of {name}: {error}")
    except RunRequestInvalid as error:
        _forget_delivery(repository, forge, event.delivery_id)
        return _error(422, str(error))


def _start(repository: Repository, event: ForgeEvent, forge: str) -> JsonResponse:
    if event.is_push:
        result = runs_for_ref_update(
            repository,
            ref=event.ref,
            before=event.before_sha,
            after=event.sha,
            actor=event.actor,
            payload=event.payload,
        )
        return _accepted([result])
    if event.event == "pull_request" and forge != "generic":
        # A forge's pull request also runs the base branch's pull_request_target
        # workflows; the generic webhook runs exactly the event its sender names.
        runs = create_runs_for_pull_request(
            repository, ref=event.ref, sha=event.sha, payload=event.payload, actor=event.actor
        )
        return _accepted_runs(event, runs)
    runs = create_runs_for_event(
        repository,
        event=event.event,
        ref=event.ref,
        sha=event.sha,
        before_sha=event.before_sha,
        payload=event.payload,
        inputs=event.inputs,
        actor=event.actor,
    )
    return _accepted_runs(event, runs)


def _accepted_runs(event: ForgeEvent, runs: list[Run]) -> JsonResponse:
    if not runs:
        return JsonResponse(
            {
                "status": "accepted",
                "runs": [],
                "messages": [f"{event.event} on {event.ref}: no workflow runs on this event"],
            }
        )
    return _accepted([], runs)
