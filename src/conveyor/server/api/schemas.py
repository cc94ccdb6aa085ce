"""The shapes the API reads and writes (they make the OpenAPI document).

Output shapes are built field by field in ``serialize.py``: nothing reaches a
response unless it is named here, so a secret value cannot slip out through a
model field added later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema


class ErrorOut(Schema):
    detail: str = Field(description="What went wrong, in a sentence.")
    field: str | None = Field(None, description="The input field at fault, for 400s.")


class MeOut(Schema):
    username: str
    role: str = Field(description="admin, member or viewer")
    can_trigger: bool
    can_admin: bool


class RepositoryOut(Schema):
    name: str
    url: str
    default_branch: str
    poll_interval: int | None
    require_fork_approval: bool = Field(
        description="A run of a pull request from a fork waits for a member's approval."
    )
    created_at: datetime
    last_run: RunSummaryOut | None = None
    html_url: str


class RepositoryIn(Schema):
    name: str = Field(description="Letters, digits, '-' and '_'; unique.")
    url: str = Field(description="Path of a local bare repository or a URL git can fetch.")
    default_branch: str | None = Field(
        None, description="Default: the bare repository's HEAD branch, else main."
    )
    poll_interval: int | None = Field(
        None,
        description="Seconds between polls (0: never; default: 60 for a remote URL, "
        "never for a local repository, whose pushes the hook reports).",
    )
    require_fork_approval: bool = Field(
        True,
        description="Runs of pull requests from forks wait for a member's approval "
        "(they never get secrets either way).",
    )


class RepositorySettingsIn(Schema):
    default_branch: str | None = Field(None, description="Leave out to keep it.")
    poll_interval: int | None = Field(
        None, description="Seconds between polls, 0 for never; leave out to keep it."
    )
    require_fork_approval: bool | None = Field(
        None,
        description="Runs of pull requests from forks wait for a member's approval; "
        "leave out to keep it.",
    )


class RepositoryCreatedOut(RepositoryOut):
    webhook_secret: str = Field(
        description="Signs webhook deliveries: put it in the forge's webhook settings."
    )
    webhook_urls: dict[str, str] = Field(description="Webhook URL for each forge.")


class RunSummaryOut(Schema):
    id: int
    repository: str
    number: int
    workflow_path: str
    workflow_name: str
    event: str
    ref: str
    branch: str
    sha: str
    commit_message: str
    commit_author: str
    actor: str
    status: str = Field(
        description="waiting (for approval), queued, running, success, failure, cancelled "
        "or skipped"
    )
    reason: str
    pipeline_status: str
    attempt: int
    rerun_of: int | None = Field(description="Number of the run this one re-runs.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    cancel_requested: bool
    from_fork: bool = Field(
        description="The run executes a pull request's code from a fork: it gets no secrets."
    )
    approved_by: str = Field(description="Who approved the run of a fork's code; '' if no one.")
    approved_at: datetime | None
    html_url: str


class RunPageOut(Schema):
    items: list[RunSummaryOut]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next (older) page; null on the last page."
    )


class StepOut(Schema):
    index: int = Field(description="0-based position of the step in its job.")
    name: str
    command: str
    status: str
    outcome: str
    exit_code: int | None
    reason: str
    started_at: datetime | None
    finished_at: datetime | None
    log_lines: int = Field(description="Lines of log stored so far.")
    log_url: str
    log_download_url: str


class AnnotationOut(Schema):
    level: str
    message: str
    file: str
    line: int | None
    column: int | None
    title: str


class StepDetailOut(StepOut):
    summary_markdown: str
    annotations: list[AnnotationOut]


class JobOut(Schema):
    id: int = Field(description="The job's id in the API (used in its URLs).")
    job_key: str = Field(description="Job id plus matrix values; unique in the run.")
    job_id: str
    name: str
    matrix: dict[str, Any]
    needs: list[str]
    status: str
    reason: str = Field(
        description="Why it ended, or why it waits (an environment, or no worker serving "
        "its runs-on labels)."
    )
    worker: str = Field(
        description="The worker that runs or ran it: a `conveyor worker`'s name, or the "
        "server's own name for its embedded pool; empty until one took it."
    )
    outputs: dict[str, Any]
    started_at: datetime | None
    finished_at: datetime | None
    steps: list[StepOut]


class TableRowOut(Schema):
    step: str
    action: str
    command: str
    result: str
    next_step: str


class TrackerColumnOut(Schema):
    column: str
    pipeline_status: str


class RunDetailOut(RunSummaryOut):
    before_sha: str
    inputs: dict[str, Any]
    concurrency_group: str
    jobs: list[JobOut]
    execution_table: list[TableRowOut]
    tracker: list[TrackerColumnOut]


class LogLineOut(Schema):
    number: int = Field(description="1-based line number in the step's log.")
    text: str


class LogPageOut(Schema):
    start: int
    lines: list[LogLineOut]
    next_start: int | None = Field(
        description="First line of the next page; null when no more lines are stored yet."
    )
    total_lines: int
    complete: bool = Field(description="The step has finished: no more lines will come.")


class TriggerIn(Schema):
    event: Literal["workflow_dispatch", "push"] = "workflow_dispatch"
    ref: str | None = Field(
        None,
        description="Branch, tag or full ref (refs/heads/main); default: the default branch.",
    )
    sha: str | None = Field(
        None,
        description="Run this commit: its full sha (40 or 64 hex digits), in the repository.",
    )
    workflow: str | None = Field(
        None,
        description="Workflow file (.github/workflows/ci.yml); required for workflow_dispatch.",
    )
    inputs: dict[str, str | bool | int | float] = Field(
        default_factory=dict, description="workflow_dispatch inputs."
    )


class TriggerOut(Schema):
    runs: list[RunSummaryOut]
    detail: str


class SecretOut(Schema):
    name: str
    updated_at: datetime


class SecretIn(Schema):
    value: str = Field(description="The secret's value; it is stored encrypted, never shown.")


class VariableOut(Schema):
    name: str
    value: str
    updated_at: datetime


class VariableIn(Schema):
    value: str = Field(
        description="The variable's value (the vars context); not a secret: it is shown."
    )


class ServiceMappingOut(Schema):
    name: str = Field(description="The service id, as the workflow's services: names it.")
    address: str
    updated_at: datetime


class ServiceMappingIn(Schema):
    address: str = Field(
        description="Where the service runs: HOST:PORT, or HOST:PORT,PORT for its ports in "
        "the order the workflow's ports: lists them (127.0.0.1:5432)."
    )


class TokenOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="The first characters after 'cvy_', to recognise it.")
    user: str
    created_at: datetime
    last_used_at: datetime | None


class TokenIn(Schema):
    name: str = Field(description="What the token is for, e.g. 'deploy script'.")


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The token itself: shown this once, never again.")


RepositoryOut.model_rebuild()
RepositoryCreatedOut.model_rebuild()


class DispatchInputOut(Schema):
    name: str
    description: str
    required: bool
    default: Any = None
    type: str = Field(description="string, boolean, number, choice or environment")
    options: list[str]


class WorkflowOut(Schema):
    path: str
    name: str
    events: list[str] = Field(description="The events its on: names.")
    dispatch_inputs: list[DispatchInputOut] = Field(
        description="What workflow_dispatch asks for (empty if it is not dispatchable)."
    )
    problem: str | None = Field(
        None, description="Why the workflow is invalid (it then runs only to fail, saying so)."
    )


class WorkflowsOut(Schema):
    ref: str
    sha: str
    workflows: list[WorkflowOut]


class WorkerJobOut(Schema):
    repository: str
    run: int = Field(description="The run's number in its repository.")
    job_key: str
    attempt: int = Field(description="1, or more when it was sent again after a lost worker.")
    claimed_at: datetime | None
    run_url: str = Field(description="The run in the API.")
    html_url: str = Field(description="The run's page.")


class WorkerOut(Schema):
    name: str = Field(description="The worker's name (its Celery node name).")
    state: Literal["online", "stopping", "lost", "stopped"] = Field(
        description="online; stopping (it said so and finishes its jobs); lost (not heard "
        "from within CONVEYOR_WORKER_LOST_SECONDS); stopped (it said so, then went quiet)."
    )
    labels: list[str] = Field(description="The runs-on labels it serves.")
    system: str
    machine: str
    concurrency: int = Field(description="Jobs it runs at once.")
    version: str = Field(description="Its conveyor version.")
    started_at: datetime | None
    last_seen_at: datetime = Field(description="Its last heartbeat.")
    stopped_at: datetime | None = Field(description="When it said it was stopping.")
    running: list[WorkerJobOut] = Field(description="The jobs it runs now.")
