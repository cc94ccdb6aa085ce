"""One job (or one matrix combination) run step by step on its executor host."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from typing import Any

from conveyor.engine import evaluation
from conveyor.engine.contexts import default_env, github_context, runner_context
from conveyor.engine.env_files import (
    EnvFileError,
    StepFiles,
    read_key_values,
    read_path_entries,
    read_summary,
)
from conveyor.engine.environments import EnvironmentGrant, EnvironmentRefused, EnvironmentRequest
from conveyor.engine.evaluation import EngineProblem
from conveyor.engine.events import (
    Annotation,
    Event,
    JobFinished,
    JobStarted,
    LogLines,
    Status,
    StepFinished,
    StepStarted,
    StepSummary,
)
from conveyor.engine.git_info import GitInfo
from conveyor.engine.log_cap import LogCap
from conveyor.engine.log_stream import StepLog, allows_unsecure_commands
from conveyor.engine.masking import Masker
from conveyor.engine.options import RunOptions
from conveyor.engine.results import JobResult, StepResult
from conveyor.engine.shells import ShellError, resolve_shell, write_script
from conveyor.engine.step_types import PostStep, StepOutcome, StepScope
from conveyor.executors.base import Cancellation, Executor, JobHost, StepCommand
from conveyor.records import record
from conveyor.workflow.expressions import JobStatus
from conveyor.workflow.model import Job, Step, Workflow


@record
class RunShared:
    """What every job of one run shares."""

    workflow: Workflow
    options: RunOptions
    git: GitInfo
    executor: Executor
    emit: Callable[[Event], None]  # serialised: one thread at a time
    masker: Masker
    debug: bool
    inputs: dict[str, Any]


@record
class CalledScope:
    """What differs for a job of a called (reusable) workflow: its own workflow's env
    and defaults, the inputs and secrets its caller passed, and the run's job it
    descends from (the ``job_id`` of its events, so that it is shown under the caller)."""

    workflow: Workflow
    inputs: dict[str, Any]
    secrets: dict[str, str]
    top_job_id: str


@record
class JobSpec:
    """One job instance: a job, or one combination of its matrix."""

    job: Job
    job_key: str
    name: str
    matrix: dict[str, Any]
    strategy: dict[str, Any]
    needs: dict[str, Any]  # the `needs` context
    cancellation: Cancellation  # cancels this instance (run cancel, fail-fast)
    called: CalledScope | None = None  # set for a job of a called workflow


def format_minutes(minutes: float) -> str:
    return f"{minutes:g}"


def _action_slug(uses: str) -> str:
    return "__" + re.sub(r"[^A-Za-z0-9_]+", "_", uses.split("@", 1)[0]).strip("_")


class JobRunner:
    def __init__(self, shared: RunShared, spec: JobSpec) -> None:
        self.shared = shared
        self.spec = spec
        self.job = spec.job
        self.masker = shared.masker
        self.workspace = shared.options.workspace
        called = spec.called
        # The workflow the job is written in (env, defaults); github.workflow stays the run's.
        self.workflow = called.workflow if called else shared.workflow
        self.inputs = called.inputs if called else shared.inputs
        self.secrets = called.secrets if called else shared.options.secrets
        self.variables = shared.options.variables  # plus the environment's, once granted
        self.event_job_id = called.top_job_id if called else spec.job.id
        self.github_env: dict[str, str] = {}  # what GITHUB_ENV files set
        self.path_additions: list[str] = []  # GITHUB_PATH entries, latest last
        self.static_env: dict[str, str] = {}  # workflow env, then job env, evaluated
        self.timed_out_minutes: float | None = None
        self.steps: list[StepResult] = []
        self._action_names: dict[str, int] = {}
        self._deadline: float | None = None
        self._host: JobHost | None = None
        self._github: dict[str, Any] = {}
        self._runner: dict[str, Any] = {}
        self._job_timeout_minutes: float | None = None
        self.raw_outputs: dict[str, str] = {}  # unmasked, for the `needs` context
        self._log_caps: dict[int, LogCap] = {}  # per job step, while it runs
        self._post_steps: list[PostStep] = []
        # The running uses: step's timeout-minutes and whether it runs past a cancel.
        self._uses_limits: tuple[float | None, bool] = (None, False)
        self._services: dict[str, Any] = {}  # the `job.services` context
        self._grant: EnvironmentGrant | None = None  # the environment gate's, if asked

    # -- the job ------------------------------------------------------------------

    def run(self) -> JobResult:
        spec = self.spec
        started = time.monotonic()
        self._emit(
            JobStarted(spec.job_key, self.event_job_id, self.masker.mask(spec.name), spec.matrix)
        )
        outputs: dict[str, str] = {}
        reason: str | None = None
        continue_on_error = False
        scope = StepScope()
        try:
            self._host = self.shared.executor.prepare_job(spec.job_key, self.workspace)
        except Exception as error:
            reason = self.masker.mask(f"could not prepare the job's host: {error}")
            return self._finish(started, Status.FAILURE, reason, {}, False)
        try:
            self._prepare(self._host)
            continue_on_error = self._job_flag(self.job.continue_on_error, "continue-on-error")
            # Time spent waiting for an environment (approval, another deploy) is not the
            # job's: its timeout-minutes count from when it may go on, as on GitHub.
            self._deadline = self._job_deadline(time.monotonic() if self._grant else started)
            for step in self.job.steps:
                self.steps.append(self.execute_step(step, scope))
            self._run_post_steps(scope)
            outputs = self._job_outputs(scope)
            self.raw_outputs = outputs
            status, reason = self._job_status(scope)
        except EnvironmentRefused as refused:
            status, reason = refused.status, self.masker.mask(str(refused))
        except EngineProblem as problem:
            status, reason = Status.FAILURE, self.masker.mask(str(problem))
        except Exception as error:  # a bug: report it on the job rather than lose the run
            status = Status.FAILURE
            reason = self.masker.mask(f"internal error: {type(error).__name__}: {error}")
        finally:
            try:
                self._host.close()
            except Exception as error:
                self.log_line(len(self.job.steps) - 1, f"##[warning]closing the job host: {error}")
        if self._grant is not None:
            self._leave_environment(self._grant, status, scope)
        return self._finish(started, status, reason, outputs, continue_on_error)

    def _enter_environment(self) -> EnvironmentGrant | None:
        """Ask the run's environment gate, if any, whether this job may deploy; it may
        block (approval, another deployment) and add the environment's secrets and vars."""
        environment = self.job.environment
        gate = self.shared.options.environment_gate
        if environment is None or gate is None:
            return None
        contexts = self._job_contexts({})
        where = self.job.positions.get("environment", self.job.position)
        name = evaluation.string(environment.name, contexts, where, "environment.name").strip()
        if not name:
            return None  # GitHub: an empty name is no environment
        try:  # known for sure only at the end (it may name a step's output)
            early = self.step_contexts(StepScope(), {})
            url = evaluation.string(environment.url, early, where, "environment.url")
        except EngineProblem:
            url = ""
        request = EnvironmentRequest(
            self.spec.job_key, self.event_job_id, name, url, self.spec.cancellation
        )
        grant = gate(request)
        for value in grant.secrets.values():
            self.masker.add(value)
        self.secrets = {**self.secrets, **grant.secrets}
        self.variables = {**self.variables, **grant.variables}
        return grant

    def _leave_environment(self, grant: EnvironmentGrant, status: Status, scope: StepScope) -> None:
        environment = self.job.environment
        url = ""
        if environment is not None and environment.url:
            # Evaluated at the end, as GitHub does: it may name a step's output.
            contexts = self.step_contexts(scope, self.env_context(scope))
            where = self.job.positions.get("environment", self.job.position)
            try:
                url = evaluation.string(environment.url, contexts, where, "environment.url")
            except EngineProblem as problem:
                self.warn(max(len(self.job.steps) - 1, 0), str(problem))
        try:
            grant.release(status, self.masker.mask(url))
        except Exception as error:  # the job's result stands; say the release failed
            self.warn(
                max(len(self.job.steps) - 1, 0),
                f"releasing environment {environment.name if environment else ''}: {error}",
            )

    def _finish(
        self,
        started: float,
        status: Status,
        reason: str | None,
        outputs: dict[str, str],
        continue_on_error: bool,
    ) -> JobResult:
        spec = self.spec
        duration = time.monotonic() - started
        continued = continue_on_error and status == Status.FAILURE
        shown = self.masker.mask_values(outputs)
        self._emit(
            JobFinished(
                job_key=spec.job_key,
                job_id=self.event_job_id,
                status=status,
                duration=duration,
                outputs=shown,
                reason=reason,
                name=self.masker.mask(spec.name),
                matrix=spec.matrix,
                continued_on_error=continued,
            )
        )
        return JobResult(
            job_key=spec.job_key,
            job_id=self.event_job_id,
            name=self.masker.mask(spec.name),
            status=status,
            outputs=shown,
            steps=self.steps,
            matrix=spec.matrix,
            duration=duration,
            reason=reason,
            continued_on_error=continued,
        )

    def _prepare(self, host: JobHost) -> None:
        options = self.shared.options
        event_path = os.path.join(host.temp_dir, "event.json")
        with open(event_path, "w", encoding="utf-8") as handle:
            json.dump(options.event_payload, handle)
        self._github = github_context(
            self.shared.workflow, options, self.shared.git, self.job.id, event_path
        )
        self._github["workspace"] = host.workspace
        self.workspace = host.workspace
        runner_temp = os.path.join(host.temp_dir, "runner_temp")
        os.makedirs(runner_temp, exist_ok=True)
        self._runner = runner_context(runner_temp, self.shared.debug, options.base_env)
        # Random like GitHub's; os.urandom, because uuid imports platform (start-up).
        self._tracking_id = f"github_{os.urandom(16).hex()}"
        self._step_number = 0
        self._step_files: StepFiles | None = None
        workflow = self.workflow
        contexts = self._job_contexts({})
        if self.job.services or self.job.container is not None:
            # Before any env is evaluated: an env value may name job.services.<id>.ports.
            self._prepare_services(contexts)
            contexts = self._job_contexts({})
        # Before any env is evaluated too: env may name the environment's secrets.
        self._grant = self._enter_environment()
        contexts = self._job_contexts({})
        workflow_env = evaluation.env_values(
            workflow.env, contexts, workflow.positions, workflow.position
        )
        contexts = self._job_contexts(workflow_env)
        job_env = evaluation.env_values(
            self.job.env, contexts, self.job.positions, self.job.position
        )
        self.static_env = {**workflow_env, **job_env}

    def _prepare_services(self, contexts: dict[str, Any]) -> None:
        """Map the job's services (or refuse its container) before its first step."""
        from conveyor.engine.services import prepare_services

        options = self.shared.options
        ready = prepare_services(
            self.job,
            contexts,
            options.services,
            options.service_advice,
            isolated_network=bool(getattr(self.shared.executor, "isolated_network", False)),
        )
        self._services = ready.context
        for warning in ready.warnings:
            self.warn(0, warning)

    def _run_post_steps(self, scope: StepScope) -> None:
        """The actions' post steps, after every step, as steps of their own at the end."""
        index = len(self.job.steps)
        while self._post_steps:
            post = self._post_steps.pop()
            self.steps.append(self._run_post_step(post, index, scope))
            index += 1

    def _run_post_step(self, post: PostStep, index: int, scope: StepScope) -> StepResult:
        started = time.monotonic()
        name = f"Post {post.name}"
        step = Step(index=index, position=self.job.position, name=name, if_=post.condition)
        env = self.env_context(scope)
        contexts = self.step_contexts(scope, env)
        status = JobStatus(failed=scope.failed, cancelled=self.stopping)
        try:
            run = evaluation.condition(post.condition, contexts, status, self.job.position)
        except EngineProblem as problem:
            run, failure = True, StepOutcome(Status.FAILURE, reason=str(problem))
        else:
            failure = None
        if not run:
            return self._skipped(step, scope, name, True, index)
        self._emit(StepStarted(self.spec.job_key, index, self.masker.mask(name), ""))
        # A post step runs to its end even after a cancel, as GitHub's do.
        self._uses_limits = (None, True)
        if failure is not None:
            outcome = failure
            self.log_line(index, f"##[error]{self.masker.mask(str(failure.reason))}")
        else:
            try:
                outcome = post.run(index)
            except EngineProblem as problem:
                outcome = StepOutcome(Status.FAILURE, reason=self.masker.mask(str(problem)))
                self.log_line(index, f"##[error]{outcome.reason}")
            except Exception as error:  # a bug: this post step fails, the others still run
                reason = self.masker.mask(f"internal error: {type(error).__name__}: {error}")
                outcome = StepOutcome(Status.FAILURE, reason=reason)
                self.log_line(index, f"##[error]{reason}")
        self._log_cap_notice(index)
        return self._record(step, scope, name, True, index, started, outcome, False)

    def _job_contexts(self, env: dict[str, str]) -> dict[str, Any]:
        return {
            "github": self._github,
            "env": env,
            "matrix": self.spec.matrix,
            "strategy": self.spec.strategy,
            "needs": self.spec.needs,
            "inputs": self.inputs,
            "secrets": self.secrets,
            "vars": self.variables,
            "runner": self._runner,
            "job": {"status": "success", "container": {}, "services": self._services},
        }

    def _job_flag(self, template: bool | str, key: str) -> bool:
        where = self.job.positions.get(key, self.job.position)
        return evaluation.flag(template, self._job_contexts(self.static_env), where, key)

    def _job_deadline(self, started: float) -> float | None:
        where = self.job.positions.get("timeout-minutes", self.job.position)
        minutes = evaluation.minutes(
            self.job.timeout_minutes, self._job_contexts(self.static_env), where, "timeout-minutes"
        )
        self._job_timeout_minutes = minutes
        return None if minutes is None else started + minutes * 60

    def _job_outputs(self, scope: StepScope) -> dict[str, str]:
        env = self.env_context(scope)
        contexts = self.step_contexts(scope, env)
        contexts["job"] = {"status": self._status_word(scope), "services": self._services}
        return evaluation.string_map(
            self.job.outputs, contexts, self.job.positions, self.job.position, "outputs"
        )

    def _job_status(self, scope: StepScope) -> tuple[Status, str | None]:
        if self.timed_out_minutes is not None:
            return (
                Status.FAILURE,
                f"timed out after {format_minutes(self.timed_out_minutes)} minutes",
            )
        if scope.failed:
            return Status.FAILURE, scope.first_failure
        if scope.cancelled or (self.spec.cancellation.cancelled and self._anything_skipped()):
            return Status.CANCELLED, "cancelled"
        return Status.SUCCESS, None

    def _anything_skipped(self) -> bool:
        return any(result.status == Status.SKIPPED for result in self.steps)

    @property
    def stopping(self) -> bool:
        """The job was cancelled or ran out of time: only always()/cancelled() steps run."""
        return self.spec.cancellation.cancelled or self.timed_out_minutes is not None

    def _status_word(self, scope: StepScope) -> str:
        if scope.failed or self.timed_out_minutes is not None:
            return "failure"
        if self.spec.cancellation.cancelled:
            return "cancelled"
        return "success"

    # -- contexts -----------------------------------------------------------------

    def env_context(self, scope: StepScope) -> dict[str, str]:
        env = {**self.static_env, **self.github_env}
        for layer in scope.env_layers:
            env.update(layer)
        return env

    def step_contexts(self, scope: StepScope, env: dict[str, str]) -> dict[str, Any]:
        contexts = self._job_contexts(env)
        contexts["steps"] = scope.steps
        contexts["inputs"] = scope.inputs if scope.depth else self.inputs
        contexts["job"] = {
            "status": self._status_word(scope),
            "container": {},
            "services": self._services,
        }
        if scope.action_path:
            github = dict(self._github)
            github["action_path"] = scope.action_path
            contexts["github"] = github
        return contexts

    # -- one step -----------------------------------------------------------------

    def execute_step(self, step: Step, scope: StepScope) -> StepResult:
        """Run ``step`` (or skip it) and record it in ``scope``; never raises for the workflow."""
        top = scope.depth == 0
        index = step.index if top else scope.log_index
        started = time.monotonic()
        name = step.display_name
        try:
            inherited = self.env_context(scope)
            contexts = self.step_contexts(scope, inherited)
            step_env = evaluation.env_values(step.env, contexts, step.positions, step.position)
            env = {**inherited, **step_env}
            contexts["env"] = env
            status = JobStatus(failed=scope.failed, cancelled=self.stopping)
            where = step.positions.get("if", step.position)
            if not evaluation.condition(step.if_, contexts, status, where):
                return self._skipped(step, scope, self._shown_name(step, contexts), top, index)
            if step.name:
                name = evaluation.string(
                    step.name, contexts, step.positions.get("name", step.position), "name"
                )
            continue_on_error = evaluation.flag(
                step.continue_on_error,
                contexts,
                step.positions.get("continue-on-error", step.position),
                "continue-on-error",
            )
            timeout = evaluation.minutes(
                step.timeout_minutes,
                contexts,
                step.positions.get("timeout-minutes", step.position),
                "timeout-minutes",
            )
            if step.run is not None:
                command = evaluation.string(
                    step.run, contexts, step.positions.get("run", step.position), "run"
                )
                if not step.name:
                    # GitHub names an unnamed step after its script as evaluated.
                    first = command.strip().splitlines()[0] if command.strip() else ""
                    name = f"Run {first}"
            else:
                command = step.uses or ""
        except EngineProblem as problem:
            outcome = StepOutcome(Status.FAILURE, reason=self.masker.mask(str(problem)))
            if top:
                self._emit(StepStarted(self.spec.job_key, index, self.masker.mask(name), ""))
            self.log_line(index, f"##[error]{outcome.reason}")
            return self._record(step, scope, name, top, index, started, outcome, False)

        if top:
            self._emit(
                StepStarted(
                    self.spec.job_key, index, self.masker.mask(name), self.masker.mask(command)
                )
            )
        else:
            self.log_line(index, f"##[group]Run {name}")
        try:
            if step.run is not None:
                outcome = self._run_script(
                    step, scope, contexts, env, command, timeout, index, status.cancelled
                )
            else:
                self._uses_limits = (timeout, status.cancelled)
                outcome = self._run_uses(step, scope, contexts, step_env, index)
        except EngineProblem as problem:
            outcome = StepOutcome(Status.FAILURE, reason=self.masker.mask(str(problem)))
            self.log_line(index, f"##[error]{outcome.reason}")
        except Exception as error:  # a bug (engine or executor): this step fails, the run ends
            reason = self.masker.mask(f"internal error: {type(error).__name__}: {error}")
            outcome = StepOutcome(Status.FAILURE, reason=reason)
            self.log_line(index, f"##[error]{reason}")
        if not top:
            self.log_line(index, "##[endgroup]")
        else:
            self._log_cap_notice(index)
        return self._record(step, scope, name, top, index, started, outcome, continue_on_error)

    def _shown_name(self, step: Step, contexts: dict[str, Any]) -> str:
        """The evaluated name of a step that will not run; its raw text if that fails."""
        if not step.name:
            return step.display_name
        try:
            return evaluation.string(step.name, contexts, step.position, "name")
        except EngineProblem:
            return step.name

    def _skipped(
        self, step: Step, scope: StepScope, name: str, top: bool, index: int
    ) -> StepResult:
        result = StepResult(
            index=step.index, id=step.id, name=name, status=Status.SKIPPED, outcome=Status.SKIPPED
        )
        if step.id:
            scope.steps[step.id] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}
        if top:
            self._emit(
                StepFinished(
                    self.spec.job_key,
                    index,
                    self.masker.mask(name),
                    Status.SKIPPED,
                    Status.SKIPPED,
                    0.0,
                )
            )
        return result

    def _record(
        self,
        step: Step,
        scope: StepScope,
        name: str,
        top: bool,
        index: int,
        started: float,
        outcome: StepOutcome,
        continue_on_error: bool,
    ) -> StepResult:
        duration = time.monotonic() - started
        conclusion = outcome.outcome
        if conclusion == Status.FAILURE and continue_on_error:
            conclusion = Status.SUCCESS
        if conclusion == Status.FAILURE:
            if not scope.failed:
                scope.first_failure = outcome.reason or self._failure_text(name, outcome)
            scope.failed = True
        elif conclusion == Status.CANCELLED:
            scope.cancelled = True
        if step.id:
            scope.steps[step.id] = {
                "outputs": dict(outcome.outputs),
                "outcome": outcome.outcome.value,
                "conclusion": conclusion.value,
            }
        shown_name = self.masker.mask(name)
        shown_outputs = self.masker.mask_values(outcome.outputs)
        reason = self.masker.mask_optional(outcome.reason)
        if top:
            self._emit(
                StepFinished(
                    job_key=self.spec.job_key,
                    step=index,
                    name=shown_name,
                    status=conclusion,
                    outcome=outcome.outcome,
                    duration=duration,
                    exit_code=outcome.exit_code,
                    reason=reason,
                    outputs=shown_outputs,
                    failed_tests=[self.masker.mask(test) for test in outcome.failed_tests],
                )
            )
        return StepResult(
            index=step.index,
            id=step.id,
            name=shown_name,
            status=conclusion,
            outcome=outcome.outcome,
            duration=duration,
            exit_code=outcome.exit_code,
            outputs=shown_outputs,
            reason=reason,
        )

    def _failure_text(self, name: str, outcome: StepOutcome) -> str:
        if outcome.exit_code is not None:
            return f"step '{self.masker.mask(name)}' failed with exit code {outcome.exit_code}"
        return f"step '{self.masker.mask(name)}' failed"

    # -- run: ----------------------------------------------------------------------

    def _defaults(self, scope: StepScope) -> tuple[str | None, str | None]:
        """defaults.run (shell, working-directory): job over workflow; none inside actions."""
        if scope.depth:
            return None, None
        job, workflow = self.job.defaults, self.workflow.defaults
        return (
            job.shell or workflow.shell,
            job.working_directory or workflow.working_directory,
        )

    def _next_action_name(self, step: Step) -> str:
        if step.id:
            return step.id
        base = "__run" if step.run is not None else _action_slug(step.uses or "")
        count = self._action_names.get(base, 0) + 1
        self._action_names[base] = count
        return base if count == 1 else f"{base}_{count}"

    def _run_script(
        self,
        step: Step,
        scope: StepScope,
        contexts: dict[str, Any],
        env: dict[str, str],
        script: str,
        timeout_minutes: float | None,
        index: int,
        past_cancel: bool,
    ) -> StepOutcome:
        assert self._host is not None
        host = self._host
        default_shell, default_directory = self._defaults(scope)
        shell_text = evaluation.string(
            step.shell or default_shell,
            contexts,
            step.positions.get("shell", step.position),
            "shell",
        )
        directory = evaluation.string(
            step.working_directory or default_directory,
            contexts,
            step.positions.get("working-directory", step.position),
            "working-directory",
        )
        cwd = (
            os.path.normpath(os.path.join(self.workspace, directory))
            if directory
            else (self.workspace)
        )
        process_env = self._process_env(step, scope, env)
        try:
            shell = resolve_shell(shell_text or None, process_env.get("PATH"))
        except ShellError as error:
            where = step.positions.get("shell", step.position)
            raise EngineProblem(f"{where}: {error}") from None

        script_path = os.path.join(host.temp_dir, "step" + shell.extension)
        write_script(script_path, script)
        wall_started = time.time()  # file times are wall-clock
        outcome = self._run_process(
            shell.argv(script_path), cwd, process_env, env, timeout_minutes, index, past_cancel
        )
        if outcome.outcome == Status.FAILURE and outcome.reason is None and outcome.exit_code:
            # Only after a failure: the XML reader is not worth importing for every run.
            from conveyor.engine.junit_reports import junit_failures

            outcome.failed_tests = junit_failures(script, cwd, self.workspace, wall_started)
        return outcome

    def run_process(
        self,
        step: Step,
        scope: StepScope,
        argv: list[str],
        env: dict[str, str],
        cwd: str | None = None,
        log_index: int | None = None,
    ) -> StepOutcome:
        """Run ``argv`` on the job's host for the ``uses:`` step ``step``, as a run: step runs.

        ``env`` is what the workflow gives the process (the action adds its ``INPUT_*``);
        the GITHUB_* variables, the step files and the job's PATH additions are added
        here, and the process's workflow commands and file commands act as a script's.
        Its output goes to the step's log, or to ``log_index`` (a post step's).
        """
        index = step.index if scope.depth == 0 else scope.log_index
        if log_index is not None:
            index = log_index
        process_env = self._process_env(step, scope, env)
        timeout_minutes, past_cancel = self._uses_limits
        return self._run_process(
            argv, cwd or self.workspace, process_env, env, timeout_minutes, index, past_cancel
        )

    @property
    def options(self) -> RunOptions:
        """The run's options (where its store is, where actions are fetched from)."""
        return self.shared.options

    @property
    def runner_temp(self) -> str:
        """``runner.temp``: a directory of the job's that its steps can read and write."""
        return str(self._runner["temp"])

    def can_use_tool(self, path: str) -> bool:
        """Whether a tool at ``path`` may serve the job: anything on this machine, unless
        the job runs in a sandbox (executors/sandbox.py says what it shows read-only)."""
        can_use = getattr(self._host, "can_use_tool", None)
        return True if can_use is None else bool(can_use(path))

    def add_post_step(self, post: PostStep) -> None:
        """Run ``post`` after the job's steps (the last added first), as GitHub runs posts."""
        self._post_steps.append(post)

    def _run_process(
        self,
        argv: list[str],
        cwd: str,
        process_env: dict[str, str],
        env: dict[str, str],
        timeout_minutes: float | None,
        index: int,
        past_cancel: bool,
    ) -> StepOutcome:
        assert self._host is not None
        host = self._host
        # Steps run one after another, so the job's files are reused: the script is
        # overwritten in place, the GITHUB_* files emptied and renamed (see renewed).
        self._step_number += 1
        prefix = f"step{self._step_number}"
        if self._step_files is None:
            files = StepFiles.create(host.temp_dir, prefix)
        else:
            files = self._step_files.renewed(host.temp_dir, prefix)
        self._step_files = files
        process_env.update(files.environment())

        timeout, limited_by_job = self._step_timeout(timeout_minutes, past_cancel)
        # A step chosen to run after a cancel (always(), cancelled()) runs to its end, as on
        # GitHub; any other step is cancelled with the job, even if that happens right now.
        cancellation = Cancellation() if past_cancel else self.spec.cancellation
        log = StepLog(
            self.spec.job_key,
            index,
            self.shared.emit,
            self.masker,
            self.shared.debug,
            cap=self._log_cap(index),
            allow_unsecure_commands=allows_unsecure_commands(env),
        )
        exit_ = host.run(
            StepCommand(
                argv=argv,
                cwd=cwd,
                env=process_env,
                on_output=log.feed,
                timeout=timeout,
                cancellation=cancellation,
            )
        )
        log.close()

        outcome = StepOutcome(Status.SUCCESS, exit_code=exit_.exit_code)
        try:
            outcome.outputs = {
                **log.results.outputs,
                **read_key_values(files.output, "GITHUB_OUTPUT"),
            }
            # The commands acted while the step ran; its files are read after it ended.
            self.github_env.update(log.results.env)
            self.github_env.update(read_key_values(files.env, "GITHUB_ENV"))
            for entry in [*log.results.path, *read_path_entries(files.path)]:
                if entry in self.path_additions:
                    self.path_additions.remove(entry)
                self.path_additions.append(entry)
            # For the action's post step (STATE_<name>); a run: step's is checked only.
            outcome.state = {
                **log.results.state,  # ::save-state, as older @actions/core writes it
                **read_key_values(files.state, "GITHUB_STATE"),
            }
            summary = read_summary(files.summary)
            if summary.strip():
                self._emit(StepSummary(self.spec.job_key, index, self.masker.mask(summary)))
        except EnvFileError as error:
            outcome.outcome = Status.FAILURE
            outcome.reason = self.masker.mask(str(error))
            log.write_line(f"##[error]{outcome.reason}")

        if exit_.error is not None:
            outcome.outcome = Status.FAILURE
            outcome.reason = self.masker.mask(exit_.error)
            log.write_line(f"##[error]{outcome.reason}")
        elif exit_.cancelled:
            outcome.outcome = Status.CANCELLED
            outcome.reason = "cancelled"
            log.write_line("##[error]The operation was cancelled.")
        elif exit_.timed_out:
            minutes = (self._job_timeout_minutes if limited_by_job else timeout_minutes) or 0.0
            if limited_by_job:
                self.timed_out_minutes = minutes
            outcome.outcome = Status.FAILURE
            outcome.reason = f"timed out after {format_minutes(minutes)} minutes"
            log.write_line(f"##[error]The step {outcome.reason}.")
        elif exit_.exit_code not in (0, None):
            outcome.outcome = Status.FAILURE
            log.write_line(f"##[error]Process completed with exit code {exit_.exit_code}.")
        elif log.results.failed:
            outcome.outcome = Status.FAILURE
            outcome.reason = "a workflow command could not be carried out"
        return outcome

    def _log_cap(self, index: int) -> LogCap | None:
        """The output budget of job step ``index``, shared by its composite action's steps."""
        limit = self.shared.options.max_step_log_bytes
        if limit is None:
            return None
        if index not in self._log_caps:
            self._log_caps[index] = LogCap(limit)
        return self._log_caps[index]

    def _log_cap_notice(self, index: int) -> None:
        cap = self._log_caps.pop(index, None)
        if cap is not None and cap.reached:
            self.log_line(index, cap.notice())

    def _step_timeout(
        self, step_minutes: float | None, past_cancel: bool
    ) -> tuple[float | None, bool]:
        """Seconds the step may take, and whether the job's deadline is what limits it."""
        step_seconds = None if step_minutes is None else step_minutes * 60
        if self._deadline is None or past_cancel:
            return step_seconds, False
        remaining = max(self._deadline - time.monotonic(), 0.001)
        if step_seconds is None or remaining < step_seconds:
            return remaining, True
        return step_seconds, False

    def _process_env(self, step: Step, scope: StepScope, env: dict[str, str]) -> dict[str, str]:
        github = dict(self._github)
        github["action"] = self._next_action_name(step)
        github["action_path"] = scope.action_path
        process_env = dict(self.shared.options.base_env)
        # As on GitHub: the executor ends processes carrying the job's id when the job
        # ends; a step that sets it to "" keeps its daemon alive on purpose.
        process_env["RUNNER_TRACKING_ID"] = self._tracking_id
        process_env.update(env)
        # GitHub does not let a workflow change its GITHUB_* and RUNNER_* variables.
        defaults = default_env(github, self._runner)
        process_env.update(defaults)
        if "GITHUB_ACTION_PATH" not in defaults:
            # Conveyor itself may run inside an action; its path is not this step's.
            process_env.pop("GITHUB_ACTION_PATH", None)
        if self.path_additions:
            current = process_env.get("PATH", os.defpath)
            process_env["PATH"] = os.pathsep.join([*reversed(self.path_additions), current])
        return process_env

    # -- uses: ----------------------------------------------------------------------

    def _run_uses(
        self,
        step: Step,
        scope: StepScope,
        contexts: dict[str, Any],
        step_env: dict[str, str],
        index: int,
    ) -> StepOutcome:
        self._next_action_name(step)
        # Imported here: the actions (more of them over time) cost start-up, and a
        # workflow of run: steps never needs them.
        from conveyor.actions import run_action

        return run_action(self, step, scope, contexts, step_env)

    # -- what actions and the log may ask ------------------------------------------

    def log_line(self, step_index: int, text: str) -> None:
        self._emit(LogLines(self.spec.job_key, max(step_index, 0), self.masker.mask(text)))

    @property
    def job_key(self) -> str:
        return self.spec.job_key

    def warn(self, step_index: int, message: str) -> None:
        message = self.masker.mask(message)
        self._emit(Annotation(self.spec.job_key, max(step_index, 0), "warning", message))
        self._emit(LogLines(self.spec.job_key, max(step_index, 0), f"##[warning]{message}"))

    def emit(self, event: Event) -> None:
        """Send ``event`` to the run's sinks (an action's own events: a deployment's state)."""
        self.shared.emit(event)

    def _emit(self, event: Event) -> None:
        self.shared.emit(event)
