"""Creating runs for an event, approving, re-running and cancelling them.

``create_runs_for_event`` reads the workflows of the pushed commit from the
repository's mirror (never from a working tree), keeps those whose ``on:``
accepts the event, creates one Run each and enqueues it. ``concurrency`` groups
work as on GitHub: with ``cancel-in-progress`` the group's running and queued
runs are cancelled; without it the new run waits while one of its group runs,
and a newer queued run replaces an older queued one.

Pull requests follow GitHub's rules. A run of a fork's code (``from_fork``) gets
no secrets, and on a repository that requires approval it is created
``waiting`` until a member approves it (``approve``). A forge's pull request
event also runs the ``pull_request_target`` workflows of the base branch, read
and checked out at its last commit, with secrets
(``create_runs_for_pull_request``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from conveyor.engine import evaluation
from conveyor.engine.contexts import github_context
from conveyor.engine.evaluation import EngineProblem
from conveyor.server.dispatch import runs as dispatch_runs
from conveyor.server.repos import git, refnames
from conveyor.server.repos.forges.base import from_fork, runs_fork_code
from conveyor.server.repos.models import Repository
from conveyor.server.runs import github, live, signals
from conveyor.server.runs.models import WAITING_FOR_APPROVAL, Run, Status
from conveyor.workflow.discovery import ROOT_FILES
from conveyor.workflow.errors import WorkflowInvalid
from conveyor.workflow.load import parse_workflow
from conveyor.workflow.model import Workflow
from conveyor.workflow.triggers import (
    EventInfo,
    accepts,
    describe_rejection,
    dispatch_event,
)

logger = logging.getLogger("conveyor.server.runs")

WORKFLOWS_DIR = ".github/workflows"
ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)


class RunRequestInvalid(Exception):
    """A request for runs that cannot be met (unknown workflow, bad inputs): says why.

    ``field`` names the part of the request at fault (``workflow``, ``inputs``), for
    the API's error body."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def checked_target(ref: str, sha: str, before_sha: str | None = None) -> tuple[str, str, str]:
    """``(ref, sha, before_sha)`` once git would accept them, shas lower-cased.

    Every trigger ends here, so a ref or sha that slipped past its own front door
    (or a run recorded before these checks, when re-run) still records nothing.
    """
    try:
        ref = refnames.check_ref(ref, "ref")
        sha = refnames.check_sha(sha, "sha")
        if before_sha:
            before_sha = refnames.check_sha(before_sha, "before_sha", zero_allowed=True)
    except refnames.NameInvalid as invalid:
        raise RunRequestInvalid(str(invalid), field=invalid.field) from None
    return ref, sha, before_sha or ""


def workflow_files(mirror: str, sha: str) -> list[str]:
    """The workflow files at ``sha``: a root ``.conveyor.yml`` (or ``conveyor.yml``),
    else every ``.github/workflows/*.yml``/``*.yaml``."""
    root = set(git.list_files(mirror, sha))
    for name in ROOT_FILES:
        if name in root:
            return [name]
    return sorted(
        path
        for path in git.list_files(mirror, sha, WORKFLOWS_DIR)
        if path.endswith((".yml", ".yaml"))
    )


def _event_info(
    event: str, ref: str, payload: dict[str, Any], changed: list[str] | None
) -> EventInfo:
    if event.startswith("pull_request"):
        base = ((payload.get("pull_request") or {}).get("base") or {}).get("ref")
        if base:
            ref = f"refs/heads/{base}"
    action = payload.get("action") if isinstance(payload.get("action"), str) else None
    workflow = (payload.get("workflow_run") or {}).get("name") if event == "workflow_run" else None
    return EventInfo(name=event, ref=ref, changed_paths=changed, action=action, workflow=workflow)


def create_runs_for_event(
    repository: Repository,
    *,
    event: str,
    ref: str,
    sha: str,
    before_sha: str | None = None,
    payload: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    actor: str = "",
    changed_paths: list[str] | None = None,
    only_workflow: str | None = None,
) -> list[Run]:
    """One queued Run per workflow at ``sha`` that runs on this event (see the module doc).

    An invalid workflow gives a Run with status failure and the problems as reason.
    Raises ``git.GitError`` when the commit cannot be fetched and ``RunRequestInvalid``
    for an ``only_workflow`` that does not exist or inputs the workflow refuses.
    """
    from conveyor.server.runs import workspace

    payload = dict(payload or {})
    if sha == git.ZERO_SHA:
        return []  # a deleted branch or tag: nothing to build
    ref, sha, before_sha = checked_target(ref, sha, before_sha)
    mirror = str(workspace.mirror_with_commit(repository, sha))
    sha = git.resolve_commit(mirror, sha) or sha
    commit = git.commit_info(mirror, sha)
    if changed_paths is None and before_sha:
        changed_paths = git.changed_paths(mirror, before_sha, sha)
    files = workflow_files(mirror, sha)
    if only_workflow is not None:
        if only_workflow not in files:
            listed = ", ".join(files) if files else "none"
            raise RunRequestInvalid(
                f"no workflow {only_workflow!r} at {sha[:7]} (workflows there: {listed})",
                field="workflow",
            )
        files = [only_workflow]
    info = _event_info(event, ref, payload, changed_paths)
    fork = from_fork(event, payload)
    waiting = fork and repository.require_fork_approval
    common = {
        "repository": repository,
        "event": event,
        "ref": ref,
        "sha": sha,
        "before_sha": before_sha or "",
        "commit_message": commit.message,
        "commit_author": commit.author,
        "actor": actor,
        "payload": payload,
        "from_fork": fork,
    }
    runs: list[Run] = []
    for path in files:
        try:
            workflow = parse_workflow(git.read_file(mirror, sha, path), path)
        except WorkflowInvalid as invalid:
            runs.append(_invalid_run(common, path, str(invalid)))
            continue
        if not accepts(workflow.on, info):
            if only_workflow is not None:
                why = describe_rejection(workflow.on, info)
                raise RunRequestInvalid(f"{path}: {why}", field="workflow")
            continue
        run_inputs: dict[str, Any] = {}
        fields = common
        if event == "workflow_dispatch":
            # The same code as `conveyor run --input`: typed inputs, and the payload's
            # github.event.inputs as text.
            try:
                run_inputs, dispatched = dispatch_event(
                    workflow.on.inputs, dict(inputs or {}), common["payload"]
                )
            except ValueError as error:
                raise RunRequestInvalid(f"{path}: {error}", field="inputs") from None
            fields = {**common, "payload": dispatched}
        runs.append(_queue_run(workflow, fields, path, run_inputs, waiting=waiting))
    return runs


def create_runs_for_pull_request(
    repository: Repository, *, ref: str, sha: str, payload: dict[str, Any], actor: str = ""
) -> list[Run]:
    """The runs of a forge's pull request event, as GitHub makes them: ``pull_request``
    workflows at the head commit (a fork's run gets no secrets and may wait for
    approval), then ``pull_request_target`` workflows at the base branch's last
    commit, with secrets. The base is resolved first, so a fetch that fails creates
    nothing (the forge's retry can then succeed)."""
    base = _pull_request_base(repository, payload)
    runs = create_runs_for_event(
        repository, event="pull_request", ref=ref, sha=sha, payload=payload, actor=actor
    )
    if base is not None:
        base_ref, base_sha = base
        runs += create_runs_for_event(
            repository,
            event="pull_request_target",
            ref=base_ref,
            sha=base_sha,
            payload=payload,
            actor=actor,
        )
    return runs


def _pull_request_base(repository: Repository, payload: dict[str, Any]) -> tuple[str, str] | None:
    """``(refs/heads/<base>, its last commit)``, or None when the payload names no base
    branch or the branch cannot be found (then no ``pull_request_target`` run)."""
    from conveyor.server.runs import workspace

    pull = payload.get("pull_request")
    base = pull.get("base") if isinstance(pull, dict) else None
    name = base.get("ref") if isinstance(base, dict) else None
    if not isinstance(name, str) or not name:
        return None
    ref = name if name.startswith("refs/") else f"refs/heads/{name}"
    mirror = workspace.update_mirror(repository)
    sha = git.resolve_commit(mirror, ref)
    if sha is None:
        # The branch is gone (or the mirror cannot see it): the commit the forge
        # reported as the base is still the base's code.
        reported = base.get("sha") if isinstance(base, dict) else None
        if isinstance(reported, str) and reported:
            sha = git.resolve_commit(mirror, reported)
    if sha is None:
        logger.warning("no base branch %s in %s: no pull_request_target runs", ref, repository)
        return None
    return ref, sha


def _invalid_run(common: dict[str, Any], path: str, reason: str) -> Run:
    now = timezone.now()
    run = _create_numbered(
        **common,
        workflow_path=path,
        workflow_name=path,
        status=Status.FAILURE,
        reason=reason,
        pipeline_status="Not started",
        started_at=now,
        finished_at=now,
    )
    live.publish(run.id)
    return run


def _queue_run(
    workflow: Workflow,
    common: dict[str, Any],
    path: str,
    inputs: dict[str, Any],
    *,
    waiting: bool = False,
    **extra: Any,
) -> Run:
    """A new run, enqueued; or, ``waiting``, left for a member to approve."""
    run = _create_numbered(
        **common,
        workflow_path=path,
        workflow_name=workflow.display_name,
        inputs=inputs,
        status=Status.WAITING if waiting else Status.QUEUED,
        reason=WAITING_FOR_APPROVAL if waiting else "",
        **extra,
    )
    if waiting:
        live.publish(run.id)
        return run
    _release(run, workflow)
    return run


def _release(run: Run, workflow: Workflow) -> None:
    """Enqueue a queued run, as its concurrency group allows."""
    group, cancel_in_progress, problem = _concurrency(workflow, run)
    if problem:
        _finish_unstarted(run, Status.FAILURE, problem)
        return
    if group:
        run.concurrency_group = group
        run.save(update_fields=["concurrency_group"])
        if not _apply_concurrency(run, cancel_in_progress):
            live.publish(run.id)
            return  # waits for the run of its group in progress
    _enqueue_after_commit(run)
    live.publish(run.id)


def approve(run: Run, by: str) -> Run:
    """Let a run waiting for approval start: record who approved it and when, then
    queue it as any new run is queued. It still runs without secrets (``from_fork``).

    Raises ``RunRequestInvalid`` when the run is not waiting (approved or cancelled
    meanwhile, by someone else too) or its workflow cannot be read.
    """
    if run.status != Status.WAITING:
        raise RunRequestInvalid(_not_waiting(run))
    workflow = _workflow_at_commit(run)
    approved = Run.objects.filter(pk=run.pk, status=Status.WAITING).update(
        status=Status.QUEUED, reason="", approved_by=by, approved_at=timezone.now()
    )
    run.refresh_from_db()
    if not approved:
        raise RunRequestInvalid(_not_waiting(run))
    if isinstance(workflow, str):
        _finish_unstarted(run, Status.FAILURE, workflow)
    else:
        _release(run, workflow)
    run.refresh_from_db()
    return run


def _not_waiting(run: Run) -> str:
    return f"run #{run.number} is not waiting for approval (it is {run.status})"


def _workflow_at_commit(run: Run) -> Workflow | str:
    """The run's workflow as its commit has it, or why it is invalid."""
    from conveyor.server.runs import workspace

    try:
        mirror = str(workspace.mirror_with_commit(run.repository, run.sha))
        return parse_workflow(git.read_file(mirror, run.sha, run.workflow_path), run.workflow_path)
    except WorkflowInvalid as invalid:
        return str(invalid)
    except git.GitError as error:
        raise RunRequestInvalid(
            f"cannot read {run.workflow_path} at {run.short_sha}: {error}"
        ) from None


def _create_numbered(**fields: Any) -> Run:
    """A Run with the next number of its repository, race-free across threads and processes."""
    repository = fields["repository"]
    for attempt in range(10):
        try:
            with transaction.atomic():
                # Locks the repository row on PostgreSQL; SQLite's IMMEDIATE transactions
                # already let one writer at a time through.
                Repository.objects.select_for_update().only("pk").get(pk=repository.pk)
                last = (
                    Run.objects.filter(repository=repository)
                    .order_by("-number")
                    .values_list("number", flat=True)
                    .first()
                )
                run = Run.objects.create(number=(last or 0) + 1, **fields)
        except IntegrityError:
            if attempt == 9:
                raise
            continue
        signals.tell(signals.run_created, run=run)
        return run
    raise AssertionError("unreachable")


def _concurrency(workflow: Workflow, run: Run) -> tuple[str, bool, str | None]:
    """``(group, cancel_in_progress, problem)`` of the workflow's ``concurrency``."""
    if workflow.concurrency is None:
        return "", False, None
    info = github.git_info(run.repository, run.ref, run.sha, run.actor, run.payload)
    options = github.options_for_contexts(
        "", run.event, run.payload, run.inputs, info, run.number, run.id
    )
    contexts = {
        "github": github_context(workflow, options, info, "", ""),
        "inputs": run.inputs,
        "vars": {},
    }
    where = workflow.positions.get("concurrency", workflow.position)
    try:
        group = evaluation.string(workflow.concurrency.group, contexts, where, "concurrency.group")
        cancel = evaluation.flag(
            workflow.concurrency.cancel_in_progress,
            contexts,
            where,
            "concurrency.cancel-in-progress",
        )
    except EngineProblem as problem:
        return "", False, str(problem)
    return group, cancel, None


def _group_runs(run: Run) -> Any:
    return Run.objects.filter(
        repository_id=run.repository_id,
        concurrency_group=run.concurrency_group,
        status__in=ACTIVE_STATUSES,
    ).exclude(pk=run.pk)


def _apply_concurrency(run: Run, cancel_in_progress: bool) -> bool:
    """Cancel what the new run replaces; True when it may start now."""
    others = list(_group_runs(run))
    superseded = f"cancelled: run #{run.number} of concurrency group {run.concurrency_group!r}"
    if cancel_in_progress:
        for other in others:
            cancel(other, reason=superseded)
        return True
    for other in others:
        if other.status == Status.QUEUED:
            cancel(other, reason=superseded)
    return not any(other.status == Status.RUNNING for other in others)


def start_next_in_group(run: Run) -> None:
    """After ``run`` finished: enqueue the queued run of its concurrency group, if any."""
    if not run.concurrency_group:
        return
    if _group_runs(run).filter(status=Status.RUNNING).exists():
        return
    waiting = (
        _group_runs(run).filter(status=Status.QUEUED, cancel_requested=False).order_by("number")
    )
    following = waiting.first()
    if following is not None and not dispatch_runs.run_is_enqueued(following.pk):
        _enqueue_after_commit(following)


def _enqueue_after_commit(run: Run) -> None:
    from conveyor.server.dispatch.runs import enqueue_run

    transaction.on_commit(lambda: enqueue_run(run))


def _finish_unstarted(run: Run, status: str, reason: str) -> None:
    now = timezone.now()
    run.status = status
    run.reason = reason
    run.finished_at = now
    run.started_at = run.started_at or now
    run.save(update_fields=["status", "reason", "finished_at", "started_at"])
    live.publish(run.id)


def cancel(run: Run, reason: str = "cancelled") -> None:
    """Cancel a run: a queued or waiting one ends at once, a running one has its
    processes killed.

    In this process the run's Cancellation fires at once; a run in another process
    notices ``cancel_requested`` at its next heartbeat.
    """
    from conveyor.server.runs import execute

    updated = Run.objects.filter(pk=run.pk, status__in=(Status.QUEUED, Status.WAITING)).update(
        status=Status.CANCELLED,
        reason=reason,
        cancel_requested=True,
        finished_at=timezone.now(),
    )
    if updated:
        run.refresh_from_db()
        live.publish(run.id)
        signals.tell(signals.run_finished, run=run)
        return
    if Run.objects.filter(pk=run.pk, status=Status.RUNNING).update(
        cancel_requested=True, reason=reason
    ):
        execute.cancel_in_process(run.id)
        live.publish(run.id)
    run.refresh_from_db()


def rerun(run: Run, failed_only: bool = False, by: str = "") -> Run:
    """A new run of the same workflow, commit and event (``attempt`` + 1).

    ``failed_only``: only the jobs that failed (and the jobs that need them) run again;
    the engine also runs what those jobs need, since their outputs are not kept.
    A re-run of a fork's run is a fork's run too (no secrets); asked for by a member
    (``by``), it needs no other approval, and that member is recorded as approving it.
    """
    from conveyor.server.runs import workspace

    only_jobs: list[str] | None = None
    if failed_only:
        failed = sorted(
            set(run.jobs.filter(status=Status.FAILURE).values_list("job_id", flat=True))
        )
        if not failed:
            raise RunRequestInvalid(f"run #{run.number} has no failed jobs to re-run")
        only_jobs = _with_dependents(run, failed)
    checked_target(run.ref, run.sha, run.before_sha)
    common = {
        "repository": run.repository,
        "event": run.event,
        "ref": run.ref,
        "sha": run.sha,
        "before_sha": run.before_sha,
        "commit_message": run.commit_message,
        "commit_author": run.commit_author,
        "actor": run.actor,
        "payload": run.payload,
        "from_fork": runs_fork_code(run),
    }
    extra: dict[str, Any] = {
        "attempt": run.attempt + 1,
        "rerun_of": run,
        "only_jobs": only_jobs,
    }
    if common["from_fork"] and by:
        extra.update(approved_by=by, approved_at=timezone.now())
    mirror = str(workspace.mirror_with_commit(run.repository, run.sha))
    try:
        workflow = parse_workflow(
            git.read_file(mirror, run.sha, run.workflow_path), run.workflow_path
        )
    except WorkflowInvalid as invalid:
        new = _invalid_run(common, run.workflow_path, str(invalid))
        Run.objects.filter(pk=new.pk).update(attempt=run.attempt + 1, rerun_of=run)
        new.refresh_from_db()
        return new
    except git.GitError as error:
        raise RunRequestInvalid(
            f"cannot read {run.workflow_path} at {run.short_sha}: {error}"
        ) from None
    return _queue_run(workflow, common, run.workflow_path, run.inputs, **extra)


def _with_dependents(run: Run, job_ids: list[str]) -> list[str]:
    needs_of = {job.job_id: set(job.needs or []) for job in run.jobs.all()}
    chosen = set(job_ids)
    changed = True
    while changed:
        changed = False
        for job_id, needs in needs_of.items():
            if job_id not in chosen and needs & chosen:
                chosen.add(job_id)
                changed = True
    return sorted(chosen)
