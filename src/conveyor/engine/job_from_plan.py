"""Run one job from its plan alone: what a worker on another machine does.

The worker has the plan (``engine/plan.py``) and a checkout of the commit; it
parses the plan's workflow text again (a valid workflow parses the same
everywhere), rebuilds the run's options from the plan plus what belongs to this
machine (``LocalSide``), and runs the job as the scheduler's own thread would.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from conveyor.engine.contexts import debug_enabled
from conveyor.engine.events import Event, JobFinished, Status
from conveyor.engine.job_runner import CalledScope, JobRunner, JobSpec, RunShared
from conveyor.engine.masking import Masker
from conveyor.engine.options import RunOptions
from conveyor.engine.plan import JobOutcome, JobPlan, RunPlan
from conveyor.engine.results import JobResult
from conveyor.engine.services import parse_service_address
from conveyor.executors.base import Cancellation, Executor
from conveyor.records import field, record
from conveyor.workflow.errors import WorkflowInvalid
from conveyor.workflow.load import parse_workflow
from conveyor.workflow.model import Workflow


@record
class LocalSide:
    """What the machine running the job supplies: none of it travels in a plan."""

    workspace: str  # the checkout of the plan's commit
    base_env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    store_dir: str | None = None  # fetched actions, tools, the actions/cache store
    artifacts_dir: str | None = None
    environment_gate: Any = None  # engine.environments.EnvironmentGate


def options_from_plan(run: RunPlan, local: LocalSide) -> RunOptions:
    """The ``RunOptions`` a job of ``run`` sees on this machine."""
    return RunOptions(
        workspace=local.workspace,
        event_name=run.event_name,
        event_payload=run.event_payload,
        git=run.git_info(),
        secrets=dict(run.secrets),
        variables=dict(run.variables),
        inputs=dict(run.inputs),
        base_env=dict(local.base_env),
        run_id=run.run_id,
        run_number=run.run_number,
        actor=run.actor,
        max_step_log_bytes=run.max_step_log_bytes,
        store_dir=local.store_dir,
        actions_url=run.actions_url,
        services={name: parse_service_address(text) for name, text in run.services.items()},
        service_advice=run.service_advice,
        artifacts_dir=local.artifacts_dir,
        artifact_url=run.artifact_url,
        disposable_workspace=run.disposable_workspace,
        cache_scope=run.cache_scope,
        cache_restore_scopes=list(run.cache_restore_scopes),
        cache_max_bytes=run.cache_max_bytes,
        environment_gate=local.environment_gate,
    )


def run_planned_job(
    plan: JobPlan,
    local: LocalSide,
    executor: Executor,
    emit: Callable[[Event], None],
    cancellation: Cancellation,
) -> JobOutcome:
    """Run the job ``plan`` describes to its end; its events go to ``emit``.

    Never raises for the job's own sake: a plan whose workflow no longer parses, or a
    bug in the engine, ends as a failed job with the reason, as in the scheduler.
    """
    options = options_from_plan(plan.run, local)
    masker = Masker(options.secrets.values())
    try:
        run_workflow = _parsed(plan.run.workflow.path, plan.run.workflow.source)
        called = None
        if plan.called is not None:
            masker = Masker([*options.secrets.values(), *plan.called.secrets.values()])
            called = CalledScope(
                workflow=_parsed(plan.called.workflow.path, plan.called.workflow.source),
                inputs=plan.called.inputs,
                secrets=plan.called.secrets,
                top_job_id=plan.called.top_job_id,
            )
        workflow = called.workflow if called is not None else run_workflow
        job = workflow.jobs.get(plan.job_id)
        if job is None:
            raise WorkflowInvalid(f"{workflow.path}: the plan's job {plan.job_id!r} is not in it")
    except WorkflowInvalid as invalid:
        return ended_unrun(
            plan, Status.FAILURE, masker.mask(f"the job's workflow cannot be read: {invalid}"), emit
        )
    shared = RunShared(
        workflow=run_workflow,
        options=options,
        git=options.git,  # type: ignore[arg-type]  # always set from the plan
        executor=executor,
        emit=emit,
        masker=masker,
        debug=debug_enabled(options),
        inputs=dict(plan.run.inputs),
    )
    spec = JobSpec(
        job=job,
        job_key=plan.job_key,
        name=plan.name,
        matrix=plan.matrix,
        strategy=plan.strategy,
        needs=plan.needs,
        cancellation=cancellation,
        called=called,
    )
    try:
        runner = JobRunner(shared, spec)
        return JobOutcome(runner.run(), runner.raw_outputs)
    except Exception as error:
        reason = masker.mask(f"internal error: {type(error).__name__}: {error}")
        return ended_unrun(plan, Status.FAILURE, reason, emit)


@lru_cache(maxsize=16)
def _parsed(path: str, source: str) -> Workflow:
    # A worker runs many jobs of one workflow; the engine never changes a parsed one.
    return parse_workflow(source, path)


def ended_unrun(
    plan: JobPlan, status: Status, reason: str, emit: Callable[[Event], None]
) -> JobOutcome:
    """A job that ends without running (it could not start, was cancelled while it
    waited, its worker was lost): its ``JobFinished`` event emitted, and its outcome."""
    emit(
        JobFinished(
            job_key=plan.job_key,
            job_id=plan.event_job_id,
            status=status,
            duration=0.0,
            reason=reason,
            name=plan.name,
            matrix=plan.matrix,
        )
    )
    result = JobResult(
        job_key=plan.job_key,
        job_id=plan.event_job_id,
        name=plan.name,
        status=status,
        matrix=plan.matrix,
        reason=reason,
    )
    return JobOutcome(result)
