"""Running one Run with the engine: ``execute_run(run_id)``, called by the dispatch task.

Claim (queued -> running), a fresh checkout of the commit, the workflow read at
that commit, the repository's secrets decrypted (none for a run of a fork's code:
every ``secrets.X`` is then empty, as on GitHub) and its variables, ``run_workflow`` with the
``LocalExecutor`` and a ``DatabaseSink``, then the Run finished with the engine's
status. Whatever goes wrong, the Run ends (failure, with the reason); it is
never left running. A heartbeat thread stamps ``heartbeat_at`` every few seconds
and cancels the run when ``cancel_requested`` was set by another process; in
this process ``cancel_in_process`` cancels at once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from conveyor.engine.masking import Masker
from conveyor.engine.runner import run_workflow
from conveyor.engine.services import ServiceAddress, parse_service_address
from conveyor.executors.base import Cancellation
from conveyor.executors.local import LocalExecutor
from conveyor.executors.sandbox import SandboxUnavailable
from conveyor.server.dispatch import launcher as dispatch_launcher
from conveyor.server.repos import git
from conveyor.server.repos.crypto import SecretUnreadable
from conveyor.server.repos.forges.base import runs_fork_code
from conveyor.server.repos.models import Repository
from conveyor.server.runs import artifacts, github, live, sandboxing, signals, workspace
from conveyor.server.runs.environments import EnvironmentGate, end_deployments_of_runs
from conveyor.server.runs.models import DeploymentStatus, Run, Status, Step
from conveyor.server.runs.recovery import STOPPED_REASON
from conveyor.server.runs.sink import DatabaseSink
from conveyor.workflow.errors import WorkflowInvalid
from conveyor.workflow.load import parse_workflow

logger = logging.getLogger("conveyor.server.runs")

HEARTBEAT_INTERVAL = 2.0  # seconds
JOBS_IN_FLIGHT_PER_RUN = 256  # with workers: jobs of one run sent out at once, at most
# Variables of the server itself that the steps of a run must not see.
_SERVER_ONLY_ENV = ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
_SERVER_ONLY_PREFIX = "CONVEYOR_"
# Set on every step of a run, so that a server restarted after a crash can find and
# end the processes its runs left behind (see recovery).
RUN_MARK_VARIABLE = "CONVEYOR_RUN_MARK"


def run_mark(run_id: int, data_dir: str | os.PathLike[str] | None = None) -> str:
    """What ``RUN_MARK_VARIABLE`` holds for ``run_id``: unique to this server's data
    (``data_dir``, by default this server's), and opaque, since steps see it (the data
    directory is the server's business)."""
    data = settings.DATA_DIR if data_dir is None else data_dir
    return hashlib.sha256(f"{run_id}@{data}".encode()).hexdigest()[:32]


_registry: dict[int, Cancellation] = {}
# Why this process cancelled a run, when no person asked (the server is stopping).
_cancel_reasons: dict[int, str] = {}
_registry_lock = threading.Lock()


def cancel_in_process(run_id: int) -> bool:
    """Cancel ``run_id`` if this process runs it; True when it did."""
    with _registry_lock:
        cancellation = _registry.get(run_id)
    if cancellation is None:
        return False
    cancellation.cancel()
    return True


def cancel_all_in_process(reason: str = STOPPED_REASON) -> list[int]:
    """Cancel every run this process is running (the server is stopping); each run
    records ``reason`` unless a person had already cancelled it."""
    with _registry_lock:
        running = dict(_registry)
        for run_id in running:
            _cancel_reasons.setdefault(run_id, reason)
    for cancellation in running.values():
        cancellation.cancel()
    return list(running)


def running_in_process() -> list[int]:
    with _registry_lock:
        return list(_registry)


def _claim(run_id: int) -> Run | None:
    now = timezone.now()
    claimed = Run.objects.filter(pk=run_id, status=Status.QUEUED, cancel_requested=False).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now, claimed_by=settings.SERVER_ID
    )
    if not claimed:
        return None
    return Run.objects.select_related("repository").get(pk=run_id)


def _reclaim(run_id: int) -> Run | None:
    """The running run ``run_id`` of this server, to coordinate again after a restart."""
    if not Run.objects.filter(
        pk=run_id, status=Status.RUNNING, claimed_by=settings.SERVER_ID
    ).update(heartbeat_at=timezone.now()):
        return None
    return Run.objects.select_related("repository").get(pk=run_id)


def step_environment() -> dict[str, str]:
    """The server's environment without its own settings (keys, database URL)."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_SERVER_ONLY_PREFIX) and name not in _SERVER_ONLY_ENV
    }


def execute_run(run_id: int, resume: bool = False) -> str:
    """Run the Run ``run_id`` if it is still queued; returns its final status.

    ``resume``: the run is ``running`` and this server's, left by a server of this data
    directory that stopped while its jobs ran on workers: coordinate it again (jobs that
    ended are not run again, jobs still on workers are awaited)."""
    run = _reclaim(run_id) if resume else _claim(run_id)
    if run is None:
        current = Run.objects.filter(pk=run_id).values_list("status", flat=True).first()
        return current or "missing"
    live.publish(run.pk)
    if not resume:
        signals.tell(signals.run_started, run=run)
    cancellation = Cancellation()
    with _registry_lock:
        _registry[run.pk] = cancellation
    masker = Masker([])
    status, reason = Status.FAILURE, "the run ended without a result"
    try:
        secrets = secrets_for(run)
        masker = Masker(list(secrets.values()))
        variables = {variable.name: variable.value for variable in run.repository.variables.all()}
        with _Heartbeat(run.pk, cancellation):
            status, reason = _run_in_workspace(run, secrets, variables, cancellation, resume)
    except WorkflowInvalid as invalid:
        status, reason = Status.FAILURE, str(invalid)
    except git.GitError as error:
        status, reason = Status.FAILURE, f"cannot check out {run.short_sha}: {error}"
    except SecretUnreadable as error:
        status, reason = Status.FAILURE, f"cannot read the secrets of {run.repository}: {error}"
    except SandboxUnavailable as error:
        status, reason = Status.FAILURE, f"cannot sandbox the run's jobs: {error}"
    except BaseException as error:
        logger.exception("run %s of %s failed inside the server", run.number, run.repository)
        status, reason = Status.FAILURE, f"internal error: {type(error).__name__}: {error}"
        if isinstance(error, KeyboardInterrupt | SystemExit):
            with _registry_lock:
                _registry.pop(run.pk, None)
                _cancel_reasons.pop(run.pk, None)
            _finish_with_retries(run, status, masker.mask(reason))
            raise
    finally:
        with _registry_lock:
            _registry.pop(run.pk, None)
            stopped = _cancel_reasons.pop(run.pk, None)
    if status == Status.CANCELLED and stopped:
        reason = stopped
    _finish_with_retries(run, status, masker.mask(reason), stopped=stopped)
    return status


def secrets_for(run: Run) -> dict[str, str]:
    """The secrets ``run`` may see: its repository's, decrypted; none at all when it
    runs a fork's code (they are not even decrypted)."""
    if runs_fork_code(run):
        return {}
    return {secret.name: secret.reveal() for secret in run.repository.secrets.all()}


def service_addresses(repository: Repository) -> dict[str, ServiceAddress]:
    """The repository's service mappings (checked when they were set)."""
    addresses = {}
    for mapping in repository.service_mappings.all():
        try:
            addresses[mapping.name] = parse_service_address(mapping.address)
        except ValueError:
            logger.warning(
                "service %s of %s: bad address %r", mapping.name, repository, mapping.address
            )
    return addresses


def _finish_with_retries(
    run: Run, status: str, reason: str, attempts: int = 5, stopped: str | None = None
) -> None:
    """Record the end; a busy or briefly unreachable database is tried again, since a run
    whose end is not recorded would stay ``running`` until the next start-up."""
    for attempt in range(1, attempts + 1):
        try:
            _finish(run, status, reason, stopped)
            return
        except DatabaseError:
            if attempt == attempts:
                raise
            logger.warning("recording the end of run %s failed; trying again", run.pk)
            close_old_connections()
            time.sleep(0.5 * attempt)


def max_step_log_bytes() -> int | None:
    """``CONVEYOR_MAX_STEP_LOG_MB`` in bytes; None when it is 0 (no cap)."""
    megabytes = settings.CONVEYOR_MAX_STEP_LOG_MB
    return megabytes * 1024 * 1024 if megabytes else None


def cache_scopes(run: Run) -> tuple[str, list[str]]:
    """The run's actions/cache scope and those it may only read. A repository's runs
    share one (by id: a repository added anew under an old name starts empty); a
    fork's pull request saves apart, per pull request, and reads the repository's,
    as GitHub scopes a pull request's caches to its merge ref."""
    own = f"repository-{run.repository.pk}"
    if not runs_fork_code(run):
        return own, []
    pull_request = run.payload.get("pull_request") if isinstance(run.payload, dict) else None
    number = pull_request.get("number") if isinstance(pull_request, dict) else None
    return f"{own}-fork-pull-request-{number or run.pk}", [own]


def _run_in_workspace(
    run: Run,
    secrets: dict[str, str],
    variables: dict[str, str],
    cancellation: Cancellation,
    resume: bool = False,
) -> tuple[str, str]:
    link_objects = sandboxing.jobs_run_as_another_user()
    with workspace.checkout(run.repository, run.sha, run.pk, link_objects=link_objects) as place:
        path = place.path
        launcher = dispatch_launcher.launcher_for(run, resume=resume)
        # With workers, no job runs here: the sandbox is theirs to make.
        executor = (
            LocalExecutor()
            if launcher is not None
            else sandboxing.executor_for_run(place.run_dir, place.borrowed)
        )
        mirror = workspace.mirror_path(run.repository)
        workflow = parse_workflow(
            git.read_file(mirror, run.sha, run.workflow_path), run.workflow_path
        )
        info = github.git_info(run.repository, run.ref, run.sha, run.actor, run.payload)
        options = github.options_for_contexts(
            str(path), run.event, run.payload, run.inputs, info, run.number, run.pk
        )
        options.secrets = secrets
        options.variables = variables
        options.base_env = {**step_environment(), RUN_MARK_VARIABLE: run_mark(run.pk)}
        options.only_jobs = run.only_jobs
        options.max_step_log_bytes = max_step_log_bytes()
        if launcher is not None:
            # The workers' slots limit how many jobs run, not this machine's cores: a job
            # in flight is only a waiting thread here (a matrix's max-parallel still holds).
            options.max_parallel_jobs = JOBS_IN_FLIGHT_PER_RUN
        options.services = service_addresses(run.repository)
        options.service_advice = (
            f"`conveyor repo service {run.repository.name} {{name}}=HOST:PORT` "
            f"(or PUT /api/repositories/{run.repository.name}/services/{{name}})"
        )
        # Kept with the run in the data directory, which the jobs' sandbox hides.
        options.artifacts_dir = artifacts.run_artifacts_dir(run.pk)
        options.artifact_url = artifacts.artifact_url_template(run.repository.name, run.number)
        options.disposable_workspace = True  # a fresh clone, removed when the run ends
        options.cache_scope, options.cache_restore_scopes = cache_scopes(run)
        options.cache_max_bytes = settings.CONVEYOR_CACHE_MAX_MB * 1024 * 1024
        sink = DatabaseSink.resumed(run, workflow) if resume else DatabaseSink(run, workflow)
        options.environment_gate = EnvironmentGate(run, sink.emit)
        try:
            result = run_workflow(workflow, options, executor, sink, cancellation, launcher)
        finally:
            sink.close()
        try:
            dispatch_launcher.record_workers(run, launched=launcher is not None)
        except DatabaseError:
            logger.exception("could not record which workers ran run %s", run.pk)
    reason = result.reason or ""
    if sink.error is not None:
        lost = f"some of the run's events could not be stored: {sink.error}"
        reason = f"{reason}; {lost}" if reason else lost
    return result.status.value, reason


def _finish(run: Run, status: str, reason: str, stopped: str | None = None) -> None:
    from conveyor.server.runs.services import start_next_in_group

    close_old_connections()
    now = timezone.now()
    if status == Status.CANCELLED:
        # `cancel` recorded why (a person, or a newer run of the concurrency group).
        asked = Run.objects.filter(pk=run.pk).values_list("reason", flat=True).first()
        reason = asked or reason
        if stopped and not asked:
            # The engine's bare "cancelled" on the job and step it stopped becomes why.
            run.jobs.filter(status=Status.CANCELLED, reason__in=("", "cancelled")).update(
                reason=stopped
            )
            Step.objects.filter(
                job__run=run, status=Status.CANCELLED, reason__in=("", "cancelled")
            ).update(reason=stopped)
    Run.objects.filter(pk=run.pk).update(status=status, reason=reason, finished_at=now)
    # Jobs and steps the engine could not report on end with the run.
    left = Status.CANCELLED if status == Status.CANCELLED else Status.FAILURE
    for job in run.jobs.filter(status__in=(Status.QUEUED, Status.RUNNING)):
        job.steps.filter(status__in=(Status.QUEUED, Status.RUNNING)).update(
            status=left, finished_at=now
        )
    run.jobs.filter(status__in=(Status.QUEUED, Status.RUNNING, Status.WAITING)).update(
        status=left, finished_at=now
    )
    # A deployment the engine did not end (it never does unless a bug) frees its environment.
    ended = DeploymentStatus.CANCELLED if status == Status.CANCELLED else DeploymentStatus.FAILURE
    end_deployments_of_runs([run.pk], ended, reason or "the run ended")
    run.refresh_from_db()
    live.publish(run.pk)
    signals.tell(signals.run_finished, run=run)
    try:
        start_next_in_group(run)
    except Exception:
        logger.exception("could not start the next run of group %r", run.concurrency_group)


class _Heartbeat:
    """Stamps ``heartbeat_at``; cancels the run when another process asked for it."""

    def __init__(self, run_id: int, cancellation: Cancellation) -> None:
        self.run_id = run_id
        self.cancellation = cancellation
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"heartbeat run {run_id}", daemon=True
        )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        from django.db import connection

        try:
            while not self._stop.wait(HEARTBEAT_INTERVAL):
                try:
                    Run.objects.filter(pk=self.run_id).update(heartbeat_at=timezone.now())
                    wanted = (
                        Run.objects.filter(pk=self.run_id)
                        .values_list("cancel_requested", flat=True)
                        .first()
                    )
                except Exception:
                    logger.exception("heartbeat of run %s failed", self.run_id)
                    continue
                if wanted:
                    self.cancellation.cancel()
        finally:
            connection.close()
