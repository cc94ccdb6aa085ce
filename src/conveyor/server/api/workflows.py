"""``/api/repositories/{name}/workflows``: the workflows at a ref, what starts them and
the inputs ``workflow_dispatch`` asks for — what a client needs before triggering."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field as SchemaField
from ninja import Query, Router, Schema

from conveyor.server.accounts.models import Role
from conveyor.server.api import lookups
from conveyor.server.api.refs import resolve_ref
from conveyor.server.api.schemas import ErrorOut, WorkflowsOut
from conveyor.server.repos import git
from conveyor.server.runs import workspace
from conveyor.server.runs.services import workflow_files
from conveyor.workflow.errors import WorkflowInvalid
from conveyor.workflow.load import parse_workflow
from conveyor.workflow.model import Workflow

router = Router(tags=["workflows"])


class AtRef(Schema):
    ref: str | None = SchemaField(None, description="Branch, tag or full ref; default branch.")


def _described(path: str, workflow: Workflow) -> dict[str, Any]:
    events = sorted(workflow.on.events) + (["schedule"] if workflow.on.schedule else [])
    dispatchable = "workflow_dispatch" in workflow.on.events
    return {
        "path": path,
        "name": workflow.display_name,
        "events": sorted(set(events)),
        "dispatch_inputs": [
            {
                "name": spec.name,
                "description": spec.description,
                "required": spec.required,
                "default": spec.default,
                "type": spec.type,
                "options": list(spec.options),
            }
            for spec in (workflow.on.inputs.values() if dispatchable else [])
        ],
        "problem": None,
    }


@router.get(
    "/{name}/workflows",
    response={200: WorkflowsOut, 400: ErrorOut, 404: ErrorOut, 502: ErrorOut},
    summary="List the workflows at a ref, with their events and dispatch inputs",
)
def list_workflows(request: HttpRequest, name: str, at: Query[AtRef]) -> dict[str, Any]:
    lookups.require_role(request, Role.VIEWER)
    repository = lookups.repository(name)
    ref, sha = resolve_ref(repository, at.ref, None)
    mirror = workspace.mirror_path(repository)
    described = []
    for path in workflow_files(str(mirror), sha):
        try:
            workflow = parse_workflow(git.read_file(mirror, sha, path), path)
        except WorkflowInvalid as invalid:
            described.append(
                {
                    "path": path,
                    "name": path,
                    "events": [],
                    "dispatch_inputs": [],
                    "problem": str(invalid),
                }
            )
            continue
        described.append(_described(path, workflow))
    return {"ref": ref, "sha": sha, "workflows": described}
