"""The REST API: one NinjaAPI at ``/api/``, its OpenAPI document at
``/api/openapi.json`` and interactive docs at ``/api/docs``.

Every operation needs a user: an API token (``Authorization: Bearer``) or the
browser's session (with CSRF on unsafe methods). What the user may do is their
role's business (``accounts.permissions``), checked in each operation.
"""

from __future__ import annotations

from ninja import NinjaAPI

from conveyor.server.accounts.auth import read_auth
from conveyor.server.api import (
    artifacts,
    environments,
    errors,
    logs,
    monitoring,
    notifications,
    repositories,
    runs,
    secrets,
    service_mappings,
    tokens,
    variables,
    workers,
    workflows,
)
from conveyor.server.api.docs_access import login_or_token_required
from conveyor.server.insights import api as insights

DESCRIPTION = """\
Conveyor's REST API: repositories, runs, jobs, steps, logs; trigger, approve,
cancel and re-run runs; repository secrets (names only), variables, service
mappings, notification channels, commit statuses, the workers and your API tokens.

Authenticate with `Authorization: Bearer <token>`. Issue a token with
`POST /api/tokens` using your username and password (HTTP Basic) or a logged-in
session. Errors are `{"detail": "...", "field": ...}`: 400 bad input (naming the
field), 401 not authenticated, 403 role too weak, 404 not found, 409 not in this
state.
"""

api = NinjaAPI(
    title="Conveyor API",
    version="1",
    description=DESCRIPTION,
    auth=read_auth(),
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
    docs_decorator=login_or_token_required,
)
errors.install(api)
api.add_router("/", tokens.router)
api.add_router("/repositories", repositories.router)
api.add_router("/repositories", runs.router)
api.add_router("/repositories", logs.router)
api.add_router("/repositories", artifacts.router)
api.add_router("/repositories", secrets.router)
api.add_router("/repositories", variables.router)
api.add_router("/repositories", service_mappings.router)
api.add_router("/repositories", workflows.router)
api.add_router("/repositories", environments.router)
api.add_router("/repositories", monitoring.router)
api.add_router("/repositories", notifications.router)
api.add_router("/repositories", insights.router)
api.add_router("/workers", workers.router)
