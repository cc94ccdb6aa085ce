"""``/api/workers``: the ``conveyor worker`` processes this server knows, their state
and the jobs each runs now (viewer). Empty in embedded mode, where the server runs
every job itself."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router

from conveyor.server.accounts.models import Role
from conveyor.server.api import lookups
from conveyor.server.api.schemas import WorkerOut
from conveyor.server.api.serialize import absolute, api_path
from conveyor.server.dispatch.overview import WorkerView, worker_record, workers_overview

router = Router(tags=["workers"])


def _worker_out(view: WorkerView) -> dict[str, Any]:
    body = worker_record(view)
    body["running"] = [
        {
            "repository": dispatch.run.repository.name,
            "run": dispatch.run.number,
            "job_key": dispatch.job_key,
            "attempt": dispatch.attempt,
            "claimed_at": dispatch.claimed_at,
            "run_url": absolute(
                api_path("repositories", dispatch.run.repository.name, "runs", dispatch.run.number)
            ),
            "html_url": absolute(
                f"/repos/{dispatch.run.repository.name}/runs/{dispatch.run.number}/"
            ),
        }
        for dispatch in view.running
    ]
    return body


@router.get("", response=list[WorkerOut], summary="List the workers and what each runs")
def list_workers(request: HttpRequest) -> list[dict[str, Any]]:
    lookups.require_role(request, Role.VIEWER)
    return [_worker_out(view) for view in workers_overview(timezone.now())]
