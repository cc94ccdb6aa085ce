"""What every endpoint of the worker API (``/api/worker/``) shares: the workers' and
the attempt's tokens checked, and refusals turned into the protocol's answers
(``protocol.py``; their meanings are listed in ``worker_api``'s docstring)."""

from __future__ import annotations

import hmac
import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from conveyor.server.dispatch import protocol
from conveyor.server.dispatch.models import DispatchStatus, JobDispatch

RETRY_AFTER_SECONDS = 2


def detail_answer(status: int, detail: str) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=status)
    if status == 503:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.response = detail_answer(status, detail)


def check_worker(request: HttpRequest) -> None:
    expected = getattr(settings, "CONVEYOR_WORKER_TOKEN", "")
    if not getattr(settings, "CONVEYOR_BROKER_URL", "") or not expected:
        raise Refused(404, "this server sends no jobs to workers (CONVEYOR_BROKER_URL is unset)")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), expected.encode()
    ):
        raise Refused(401, "a worker token (Authorization: Bearer CONVEYOR_WORKER_TOKEN) is needed")


def attempt_of(request: HttpRequest, dispatch_id: int) -> JobDispatch:
    check_worker(request)
    dispatch = JobDispatch.objects.select_related("run__repository").filter(pk=dispatch_id).first()
    if dispatch is None:
        raise Refused(404, f"no job dispatch {dispatch_id}")
    given = request.headers.get(protocol.JOB_TOKEN_HEADER, "")
    if not hmac.compare_digest(protocol.token_digest(given), dispatch.token_hash):
        raise Refused(403, f"the job token of dispatch {dispatch_id} is wrong")
    return dispatch


def over(dispatch: JobDispatch) -> str:
    if dispatch.status == DispatchStatus.RUNNING:
        return f"dispatch {dispatch.pk} was claimed by {dispatch.worker_name}"
    if dispatch.status == DispatchStatus.QUEUED:
        return f"dispatch {dispatch.pk} was not claimed"
    reason = f": {dispatch.reason}" if dispatch.reason else ""
    return f"dispatch {dispatch.pk} is {dispatch.status}{reason}"


def json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "the body is a JSON object")
    return data


def answered(view: Any) -> Any:
    """Turns ``Refused`` into its answer; the worker API takes no CSRF token."""

    def answer(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Refused as refused:
            return refused.response

    answer.__name__ = view.__name__
    answer.__doc__ = view.__doc__
    return csrf_exempt(answer)
