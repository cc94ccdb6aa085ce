"""Running one dispatch: claim it, fetch its commit, run its plan, report, finish.

``WorkerJobs`` is the worker's state shared by its threads: the jobs running
(the heartbeat names them, and cancels them when the server says so), whether the
worker is stopping, the mirrors, and how jobs are sandboxed.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import threading
import urllib.parse
from pathlib import Path
from typing import Any

from conveyor.engine.events import Status
from conveyor.engine.job_from_plan import LocalSide, ended_unrun, run_planned_job
from conveyor.engine.plan import JobOutcome, JobPlan, PlanUnreadable, RunPlan, WorkflowFile
from conveyor.executors.base import Cancellation
from conveyor.server.dispatch.protocol import HEARTBEAT_SECONDS, job_path
from conveyor.worker.channel import AttemptOver, EventChannel
from conveyor.worker.client import GaveUp, ServerClient
from conveyor.worker.config import WorkerConfig
from conveyor.worker.gate import RemoteEnvironmentGate
from conveyor.worker.leftovers import RUN_MARK_VARIABLE, worker_mark
from conveyor.worker.mirrors import GitFailed, Mirrors
from conveyor.worker.run_artifacts import (
    Found,
    fetch_run_artifacts,
    files_in,
    wants_run_artifacts,
)
from conveyor.worker.sandboxing import SandboxChoice

logger = logging.getLogger("conveyor.worker")

# Variables of the worker itself that steps must not see (its token, its broker).
_WORKER_ONLY_PREFIX = "CONVEYOR_"
_WORKER_ONLY_ENV = ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")


class Requeue(Exception):
    """The job was not claimed (the server away while the worker stops): send the
    message back to the broker for another worker."""


def step_environment(mark: str) -> dict[str, str]:
    """This worker's environment without its own settings, with the steps' mark."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_WORKER_ONLY_PREFIX) and name not in _WORKER_ONLY_ENV
    }
    env[RUN_MARK_VARIABLE] = mark
    return env


class WorkerJobs:
    """The jobs of one worker process."""

    def __init__(self, config: WorkerConfig, client: ServerClient, sandbox: SandboxChoice) -> None:
        self.config = config
        self.client = client
        self.sandbox = sandbox
        self.mirrors = Mirrors(config.mirrors_dir)
        self.mark = worker_mark(config.directory)
        self.stopping = threading.Event()
        # How long a job waits before asking again about an environment that said "wait".
        self.environment_poll_seconds = HEARTBEAT_SECONDS
        self._running: dict[int, Cancellation] = {}
        # The run's artifacts brought for each job, as found (not sent back).
        self._fetched: dict[int, Found] = {}
        self._lock = threading.Lock()

    def running(self) -> list[int]:
        with self._lock:
            return sorted(self._running)

    def cancel(self, dispatch_ids: list[Any]) -> None:
        """Cancel the jobs the server names, those this worker runs."""
        with self._lock:
            found = [self._running.get(_as_id(dispatch_id)) for dispatch_id in dispatch_ids]
        for cancellation in found:
            if cancellation is not None:
                cancellation.cancel()

    def run(self, dispatch_id: int, job_token: str) -> str:
        """Run the dispatch to its end; what happened, in a few words (for the log).

        Raises Requeue when the job could not be claimed and should go to another worker."""
        claim = self._claim(dispatch_id, job_token)
        if claim is None:
            return "not this worker's"
        cancellation = Cancellation()
        with self._lock:
            self._running[dispatch_id] = cancellation
        channel = EventChannel(self.client, dispatch_id, job_token, cancellation).start()
        try:
            try:
                outcome = self._run_claimed(dispatch_id, job_token, claim, channel, cancellation)
            except Exception as error:
                # The job cannot be left `running` on the server: it ends, saying why.
                logger.exception("dispatch %s: the worker failed", dispatch_id)
                reason = f"internal error on worker {self.config.name}: {type(error).__name__}"
                outcome = failed_outcome(claim.get("plan"), reason, channel.emit)
            if channel.over is None:
                self._upload_artifacts(dispatch_id, job_token)
            try:
                channel.finish(outcome)
            except AttemptOver as over:
                return f"not reported: {over}"
            return str(outcome.result.status)
        except BaseException:
            channel.abandon()
            raise
        finally:
            with self._lock:
                self._running.pop(dispatch_id, None)
                self._fetched.pop(dispatch_id, None)
            shutil.rmtree(self._job_dir(dispatch_id), ignore_errors=True)
            shutil.rmtree(self._artifacts_dir(dispatch_id), ignore_errors=True)

    def _claim(self, dispatch_id: int, job_token: str) -> dict[str, Any] | None:
        try:
            answer = self.client.send_until_answered(
                "POST",
                job_path(dispatch_id, "claim"),
                {"worker": self.config.name},
                job_token=job_token,
                stop=self.stopping.is_set,
            )
        except GaveUp as gave_up:
            raise Requeue(f"dispatch {dispatch_id} not claimed: {gave_up}") from None
        if answer.status == 200 and isinstance(answer.body, dict):
            return answer.body
        if answer.status == 409:
            logger.info("dispatch %s: not this worker's (%s)", dispatch_id, answer.detail())
        else:
            logger.error("dispatch %s: the claim was refused: %s", dispatch_id, answer.detail())
        return None

    def _run_claimed(
        self,
        dispatch_id: int,
        job_token: str,
        claim: dict[str, Any],
        channel: EventChannel,
        cancellation: Cancellation,
    ) -> JobOutcome:
        try:
            plan = JobPlan.from_json(claim.get("plan"))
        except PlanUnreadable as unreadable:
            return failed_outcome(claim.get("plan"), f"the job's plan: {unreadable}", channel.emit)
        repository = str(claim.get("repository") or plan.run.git.get("repository") or "repository")
        sha = str(plan.run.git.get("sha") or "")
        git_url = str(claim.get("git_url") or "")
        job_dir = self._job_dir(dispatch_id)
        workspace = job_dir / _workspace_name(repository)
        try:
            if not sha or not git_url:
                raise GitFailed("the claim names no commit to fetch")
            mirror = self.mirrors.with_commit(
                repository, git_url, sha, self.client.headers(job_token)
            )
            link_objects = self.sandbox.jobs_run_as_another_user
            self.mirrors.checkout(repository, mirror, sha, workspace, link_objects=link_objects)
        except GitFailed as failed:
            return failed_outcome(plan, f"cannot check out the commit: {failed}", channel.emit)
        borrowed = None if self.sandbox.jobs_run_as_another_user else mirror / "objects"
        artifacts = self._artifacts_dir(dispatch_id)
        artifacts.mkdir(parents=True, exist_ok=True)
        if wants_run_artifacts(plan.workflow.source):
            try:
                found = fetch_run_artifacts(self.client, dispatch_id, job_token, artifacts)
            except (RuntimeError, OSError, tarfile.TarError) as error:
                return failed_outcome(
                    plan, f"cannot bring the run's artifacts: {error}", channel.emit
                )
            with self._lock:
                self._fetched[dispatch_id] = found
        try:
            executor = self.sandbox.executor(job_dir, borrowed)
        except Exception as error:  # a sandbox that cannot be made now
            return failed_outcome(plan, f"cannot prepare the job's executor: {error}", channel.emit)
        local = LocalSide(
            workspace=str(workspace),
            base_env=step_environment(self.mark),
            store_dir=str(self.config.store_dir),
            artifacts_dir=str(artifacts),
            environment_gate=RemoteEnvironmentGate(
                self.client, dispatch_id, job_token, self.environment_poll_seconds
            ),
        )
        return run_planned_job(plan, local, executor, channel.emit, cancellation)

    def _upload_artifacts(self, dispatch_id: int, job_token: str) -> None:
        root = self._artifacts_dir(dispatch_id)
        with self._lock:
            fetched = self._fetched.pop(dispatch_id, {})
        now = files_in(root) if fetched else {}
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.is_symlink() or path.name == ":lock":
                continue  # the store's lock file is no artifact's
            relative = path.relative_to(root).as_posix()
            if relative in fetched and now.get(relative) == fetched[relative]:
                continue  # another job's, brought here for a download: the server has it
            answer = self.client.send_until_answered(
                "PUT",
                job_path(dispatch_id, f"artifacts/{urllib.parse.quote(relative)}"),
                upload=path,
                job_token=job_token,
            )
            if not answer.ok:
                logger.warning(
                    "dispatch %s: artifact %s refused: %s", dispatch_id, relative, answer.detail()
                )
                if answer.status == 409:
                    return

    def _job_dir(self, dispatch_id: int) -> Path:
        return self.config.workspaces_dir / str(dispatch_id)

    def _artifacts_dir(self, dispatch_id: int) -> Path:
        return self.config.artifacts_dir / str(dispatch_id)


def _as_id(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _workspace_name(repository: str) -> str:
    """The checkout's directory, named after the repository as GitHub's runners do."""
    name = repository.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in name).strip(".")
    return cleaned or "repository"


def failed_outcome(plan: JobPlan | Any, reason: str, emit: Any) -> JobOutcome:
    """The outcome of a job that could not start, its JobFinished event emitted."""
    if not isinstance(plan, JobPlan):  # a plan that cannot be read: what can be seen of it
        data = plan if isinstance(plan, dict) else {}
        key = str(data.get("job_key") or "")
        matrix = data.get("matrix")
        plan = JobPlan(
            run=RunPlan(workflow=WorkflowFile("", ""), git={}),
            job_id=str(data.get("job_id") or key),
            job_key=key,
            name=str(data.get("name") or key),
            matrix=matrix if isinstance(matrix, dict) else {},
        )
    return ended_unrun(plan, Status.FAILURE, reason, emit)
