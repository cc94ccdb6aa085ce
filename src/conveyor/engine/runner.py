"""Run a workflow's job graph: the public entry point of the engine.

``run_workflow`` schedules jobs as threads (at most ``max_parallel_jobs`` at
once, a job when all of its ``needs`` are done), expands matrices when their job
becomes ready, and reports everything to the sink, one event at a time.

A job that calls a reusable workflow (``uses:``) runs no steps: each of its
instances loads the called workflow (``workflow_calls``) and adds that workflow's
jobs to the graph as nodes keyed ``caller / job``; the call ends when they all
have, and its ``on.workflow_call.outputs`` are the caller's outputs.

``needs.<matrix job>``: ``result`` is ``failure`` if any combination failed (not
counting ``continue-on-error`` ones), else ``cancelled`` if any was cancelled, else
``skipped`` if all were skipped, else ``success``; ``outputs`` merge the
combinations in the order they completed, a later non-empty value replacing an
earlier one (GitHub: "the last one that completed").
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from conveyor.engine import evaluation
from conveyor.engine.contexts import debug_enabled, github_context
from conveyor.engine.evaluation import EngineProblem
from conveyor.engine.events import (
    Event,
    JobFinished,
    RunArtifacts,
    RunFinished,
    RunStarted,
    Sink,
    Status,
)
from conveyor.engine.git_info import GitInfo, read_git_info
from conveyor.engine.job_runner import CalledScope, JobRunner, JobSpec, RunShared
from conveyor.engine.masking import Masker
from conveyor.engine.options import RunOptions
from conveyor.engine.plan import CalledPlan, JobOutcome, JobPlan, WorkflowFile, run_plan
from conveyor.engine.results import JobResult, RunResult, StepResult
from conveyor.engine.runner_labels import labels_of
from conveyor.engine.workflow_calls import (
    CalledWorkflow,
    CallFrame,
    CallLoader,
    WorkflowSource,
    call_inputs,
    call_outputs,
    call_secrets,
    workflow_identity,
)
from conveyor.executors.base import Cancellation, Executor
from conveyor.records import field, record
from conveyor.workflow.expressions import JobStatus
from conveyor.workflow.matrix import expand_matrix, matrix_job_name, select_legs
from conveyor.workflow.model import Job, Workflow

__all__ = [
    "GitInfo",
    "JobResult",
    "RunOptions",
    "RunResult",
    "StepResult",
    "run_workflow",
]

# A job's env variable that marks it safe to run again when its worker died mid-job.
RETRY_ON_WORKER_LOST = "CONVEYOR_RETRY_ON_WORKER_LOST"
# A job `if` naming one of these decides for itself whether failed or skipped needs stop it.
_STATUS_FUNCTION = r"(?i)\b(always|failure|cancelled)\s*\("  # compiled when first used


class JobLauncher(Protocol):
    """Runs one job instance from its plan and blocks until it ended: elsewhere (a
    worker on another machine) or here. Its events go to ``emit`` as they happen;
    ``cancellation`` fires when the run or the job is cancelled. Never raises for the
    job's sake: a job that could not run comes back failed, with the reason."""

    def run_job(
        self, plan: JobPlan, cancellation: Cancellation, emit: Callable[[Event], None]
    ) -> JobOutcome: ...


def run_workflow(
    workflow: Workflow,
    options: RunOptions,
    executor: Executor,
    sink: Sink,
    cancellation: Cancellation | None = None,
    launcher: JobLauncher | None = None,
) -> RunResult:
    """Run ``workflow`` to its end and return what happened; events go to ``sink``.

    Jobs run in threads of this process on ``executor``, or, given a ``launcher``,
    wherever it sends their plans.

    Raises ``ValueError`` (before any event) only when ``options.only_jobs`` names
    a job the workflow does not have. Everything else, including a bug inside the
    engine, ends in a ``RunFinished`` event and a ``RunResult``.
    """
    selected = select_jobs(workflow, options.only_jobs)
    return _Scheduler(
        workflow, options, executor, sink, cancellation or Cancellation(), selected, launcher
    ).run()


def select_jobs(workflow: Workflow, only_jobs: list[str] | None) -> list[str]:
    """The job ids a run executes: ``only_jobs`` and, transitively, what they need."""
    if only_jobs is None:
        return list(workflow.jobs)
    unknown = [job_id for job_id in only_jobs if job_id not in workflow.jobs]
    if unknown:
        raise ValueError(
            f"{workflow.path}: no job {', '.join(repr(j) for j in unknown)}; "
            f"the jobs are {', '.join(workflow.jobs) or 'none'}"
        )
    wanted: set[str] = set()
    pending = list(only_jobs)
    while pending:
        job_id = pending.pop()
        if job_id in wanted or job_id not in workflow.jobs:
            continue
        wanted.add(job_id)
        pending.extend(workflow.jobs[job_id].needs)
    return [job_id for job_id in workflow.jobs if job_id in wanted]


class _SerialisedSink:
    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            self._sink.emit(event)


@record
class _Node:
    """A job to schedule: one of the run's workflow (keyed by its id), or one of a
    workflow a job called (keyed ``caller / id``), with the frame it belongs to."""

    key: str
    job: Job
    frame: CallFrame
    needs: dict[str, str]  # each name in the job's needs -> that job's node key
    order: tuple[int, ...]  # where its results sort: file positions down the calls


@record
class _Instance:
    spec: JobSpec
    plan: JobPlan
    group: _Group
    linked: bool = True  # cancelled with the run
    # For a call of a reusable workflow: the contexts its with: and secrets: see.
    call_contexts: dict[str, Any] | None = None


@record
class _Group:
    """The instances of one job: one, or one a matrix combination."""

    node: _Node
    total: int
    max_parallel: int
    fail_fast: bool
    running: int = 0
    instances: list[_Instance] = field(default_factory=list)
    finished: list[tuple[JobResult, dict[str, str]]] = field(default_factory=list)


@record
class _PendingCall:
    """A calling job's instance whose called jobs are running; done when they all are."""

    instance: _Instance
    called: CalledWorkflow
    frame: CallFrame  # the called workflow's
    node_keys: list[str]


@record
class _JobDone:
    result: str  # success | failure | cancelled | skipped, as `needs.<id>.result`
    outputs: dict[str, str]
    failed: bool  # for failure() in the `if` of jobs that descend from it


class _Scheduler:
    def __init__(
        self,
        workflow: Workflow,
        options: RunOptions,
        executor: Executor,
        sink: Sink,
        cancellation: Cancellation,
        selected: list[str],
        launcher: JobLauncher | None = None,
    ) -> None:
        self.launcher = launcher
        self.workflow = workflow
        self.options = options
        self.cancellation = cancellation
        self.sink = _SerialisedSink(sink)
        self.selected = selected
        self.executor = executor
        self.condition = threading.Condition(threading.RLock())
        self.nodes: dict[str, _Node] = {}
        self.waiting: list[str] = []  # node keys
        self.queue: list[_Instance] = []
        self.calls: list[_PendingCall] = []
        self.running = 0
        self.threads: list[threading.Thread] = []
        self.done: dict[str, _JobDone] = {}  # by node key
        self.results: dict[str, JobResult] = {}
        self.internal_error: str | None = None
        self.order: dict[str, tuple[int, ...]] = {}  # job_key -> (file positions, combination)
        self.outbox: list[Event] = []  # the scheduler's own events, emitted outside the lock

    # -- the loop -------------------------------------------------------------------

    def run(self) -> RunResult:
        started = time.monotonic()
        try:
            self._setup()
        except Exception as error:
            return self._finish_early(started, f"could not start the run: {error}")
        self.sink.emit(
            RunStarted(
                workflow=self.workflow.display_name,
                path=self.workflow.path,
                event=self.options.event_name,
                ref=self.git.ref,
                sha=self.git.sha,
                jobs=list(self.selected),
                dirty=self.git.dirty,
            )
        )
        unsubscribe = self.cancellation.on_cancel(self._wake)
        try:
            self._skip_jobs_not_served_here()
            self.loader.preload(self.root, list(self.waiting))
            self._loop()
        except BaseException as error:  # a bug, or Ctrl-C while the engine itself is busy
            if not isinstance(error, KeyboardInterrupt):
                self.internal_error = f"internal error: {type(error).__name__}: {error}"
            self.cancellation.cancel()
            self._drain()
        finally:
            unsubscribe()
        for thread in self.threads:
            thread.join()
        return self._finish(started)

    def _setup(self) -> None:
        options = self.options
        self.git = options.git or read_git_info(options.workspace)
        masker = Masker(options.secrets.values())
        inputs = {
            name: spec.default
            for name, spec in self.workflow.on.inputs.items()
            if spec.default is not None
        }
        inputs.update(options.inputs)
        self.shared = RunShared(
            workflow=self.workflow,
            options=options,
            git=self.git,
            executor=self.executor,
            emit=self.sink.emit,
            masker=masker,
            debug=debug_enabled(options),
            inputs=inputs,
        )
        self.loader = CallLoader(options)
        self.root = CallFrame(
            workflow=self.workflow,
            source=WorkflowSource(options.workspace),
            inputs=inputs,
            secrets=options.secrets,
            chain=(workflow_identity(self.workflow, options.workspace),),
        )
        self.run_plan = run_plan(options, self.workflow, self.git, inputs)
        self._add_nodes(self.root, self.selected)

    def _add_nodes(self, frame: CallFrame, job_ids: list[str]) -> list[str]:
        keys: list[str] = []
        positions = {job_id: index for index, job_id in enumerate(frame.workflow.jobs)}
        for job_id in job_ids:
            job = frame.workflow.jobs[job_id]
            key = frame.key_prefix + job_id
            needs = {need: frame.key_prefix + need for need in job.needs}
            order = (*frame.order, positions[job_id])
            self.nodes[key] = _Node(key=key, job=job, frame=frame, needs=needs, order=order)
            self.waiting.append(key)
            keys.append(key)
        return keys

    def _loop(self) -> None:
        while True:
            try:
                with self.condition:
                    self._advance()
                    while self._start_instances():
                        self._advance()
                    idle = not self.queue and self.running == 0
                    finished = not self.waiting and not self.calls and idle
                    if self.waiting and idle:
                        self._fail_unreachable()
                    outbox, self.outbox = self.outbox, []
                    if not finished and not outbox:
                        self.condition.wait(timeout=1.0)
                # Emitted without holding the scheduler's lock, so that a sink may cancel
                # the run (which wakes the scheduler) without a deadlock.
                for event in outbox:
                    self.sink.emit(event)
                if finished:
                    return
            except KeyboardInterrupt:
                # Ctrl-C without a handler of the caller's: cancel, and finish cleanly.
                self.cancellation.cancel()

    def _drain(self) -> None:
        """After a bug in the loop: let running jobs end (they were cancelled)."""
        with self.condition:
            while self.running:
                self.condition.wait(timeout=1.0)

    def _wake(self) -> None:
        with self.condition:
            self.condition.notify_all()

    # -- jobs becoming ready ------------------------------------------------------------

    def _advance(self) -> None:
        """Release what is ready until nothing more is: a release may end a job at once
        (skipped) or start a call (new jobs), and a call ends when its jobs have."""
        while self._finish_calls() | self._release_ready_jobs():
            pass

    def _release_ready_jobs(self) -> bool:
        released = False
        for key in list(self.waiting):
            node = self.nodes[key]
            if all(need in self.done for need in node.needs.values()):
                self.waiting.remove(key)
                self._release(node)
                released = True
        return released

    def _fail_unreachable(self) -> None:
        for key in list(self.waiting):
            node = self.nodes[key]
            missing = [name for name, need in node.needs.items() if need not in self.nodes]
            if missing:
                why = f"needs {', '.join(missing)}, which the workflow does not define"
            else:
                why = "its needs form a cycle"
            where = node.job.positions.get("needs", node.job.position)
            self.waiting.remove(key)
            self._job_without_instances(node, Status.FAILURE, f"{where}: {why}")

    def _ancestors(self, node: _Node) -> set[str]:
        seen: set[str] = set()
        pending = list(node.needs.values())
        while pending:
            key = pending.pop()
            if key in seen:
                continue
            seen.add(key)
            if key in self.nodes:
                pending.extend(self.nodes[key].needs.values())
        return seen

    def _job_contexts(self, node: _Node) -> dict[str, Any]:
        return {
            "github": github_context(self.workflow, self.options, self.git, node.job.id, ""),
            "needs": {
                name: {"result": self.done[key].result, "outputs": self.done[key].outputs}
                for name, key in node.needs.items()
                if key in self.done
            },
            "vars": self.options.variables,
            "inputs": node.frame.inputs,
        }

    def _release(self, node: _Node) -> None:
        job = node.job
        contexts = self._job_contexts(node)
        ancestors_failed = any(self.done[a].failed for a in self._ancestors(node) if a in self.done)
        run_cancelled = self.cancellation.cancelled or node.frame.cancelled
        status = JobStatus(failed=ancestors_failed, cancelled=run_cancelled)
        where = job.positions.get("if", job.position)
        try:
            should_run = evaluation.condition(job.if_, contexts, status, where)
            decides_itself = bool(job.if_ and re.search(_STATUS_FUNCTION, str(job.if_)))
            if should_run and not decides_itself:
                should_run = all(contexts["needs"][n]["result"] == "success" for n in job.needs)
            if not should_run:
                self._job_without_instances(
                    node, Status.CANCELLED if run_cancelled else Status.SKIPPED, None
                )
                return
            self._create_instances(node, contexts, linked=not run_cancelled)
        except EngineProblem as problem:
            self._job_without_instances(node, Status.FAILURE, self.shared.masker.mask(str(problem)))
        except ValueError as error:  # MatrixError
            where = job.positions.get("strategy", job.position)
            reason = self.shared.masker.mask(f"{where}: strategy.matrix: {error}")
            self._job_without_instances(node, Status.FAILURE, reason)

    def _create_instances(self, node: _Node, contexts: dict[str, Any], linked: bool) -> None:
        job = node.job
        strategy = job.strategy
        combinations: list[dict[str, Any]] = [{}]
        fail_fast = True
        max_parallel: int | None = None
        if strategy is not None:
            where = job.positions.get("strategy", job.position)
            if strategy.matrix is not None:
                matrix = evaluation.value(strategy.matrix, contexts, where, "strategy.matrix")
                if not isinstance(matrix, dict):
                    raise EngineProblem(
                        f"{where}: strategy.matrix must be a mapping, got {type(matrix).__name__}"
                    )
                combinations = expand_matrix(matrix)
            fail_fast = evaluation.flag(strategy.fail_fast, contexts, where, "strategy.fail-fast")
            raw = evaluation.value(strategy.max_parallel, contexts, where, "strategy.max-parallel")
            if raw not in (None, ""):
                try:
                    max_parallel = max(int(raw), 1)
                except (TypeError, ValueError):
                    raise EngineProblem(
                        f"{where}: strategy.max-parallel must be a number, got {raw!r}"
                    ) from None
        total = len(combinations)
        is_matrix = strategy is not None and strategy.matrix is not None
        legs = list(range(total))
        if is_matrix and self.options.matrix_filter:
            legs = self._filtered_legs(job, combinations)
        group = _Group(
            node=node, total=len(legs), max_parallel=max_parallel or len(legs), fail_fast=fail_fast
        )
        frame = node.frame
        called = None
        if frame.level > 1:
            called = CalledScope(
                workflow=frame.workflow,
                inputs=frame.inputs,
                secrets=frame.secrets,
                top_job_id=frame.top_job_id or job.id,
            )
        not_here: list[tuple[_Instance, str]] = []
        for index in legs:
            values = combinations[index]
            strategy_context = {
                "fail-fast": fail_fast,
                "job-index": index,
                "job-total": total,
                "max-parallel": group.max_parallel,
            }
            local_key = matrix_job_name(job.id, values) if is_matrix else job.id
            job_key = self._unique_key(frame.key_prefix + local_key)
            self.order[job_key] = (*node.order, index)
            name = self._display_name(node, values, strategy_context, contexts, is_matrix)
            spec = JobSpec(
                job=job,
                job_key=job_key,
                name=name,
                matrix=values,
                strategy=strategy_context,
                needs=contexts["needs"],
                cancellation=Cancellation(),
                called=called,
            )
            if frame.cancellation is not None:
                frame.cancellation.on_cancel(spec.cancellation.cancel)
            plan = self._plan(spec, {**contexts, "matrix": values, "strategy": strategy_context})
            instance = _Instance(spec=spec, plan=plan, group=group, linked=linked)
            group.instances.append(instance)
            if job.uses is not None:
                # Queued like a job, so that the matrix's max-parallel counts calls.
                instance.call_contexts = {
                    **contexts,
                    "matrix": values,
                    "strategy": strategy_context,
                }
                self.queue.append(instance)
                continue
            why = self._not_served(
                job, {**contexts, "matrix": values, "strategy": strategy_context}
            )
            if why is None:
                self.queue.append(instance)
            else:
                not_here.append((instance, why))
        # Finished only once every combination exists: the group counts them all.
        for instance, why in not_here:
            self._skip_instance(instance, why)

    def _plan(self, spec: JobSpec, contexts: dict[str, Any]) -> JobPlan:
        called = None
        if spec.called is not None:
            workflow = spec.called.workflow
            called = CalledPlan(
                workflow=WorkflowFile(workflow.path, workflow.source),
                inputs=spec.called.inputs,
                secrets=spec.called.secrets,
                top_job_id=spec.called.top_job_id,
            )
        labels: list[str] = []
        if spec.job.runs_on is not None and self.launcher is not None:
            where = spec.job.positions.get("runs-on", spec.job.position)
            try:
                labels = labels_of(evaluation.value(spec.job.runs_on, contexts, where, "runs-on"))
            except EngineProblem:
                labels = []  # the job fails on it where it runs, with the position
        return JobPlan(
            run=self.run_plan,
            job_id=spec.job.id,
            job_key=spec.job_key,
            name=spec.name,
            matrix=spec.matrix,
            strategy=spec.strategy,
            needs=spec.needs,
            called=called,
            labels=labels,
            retry_on_worker_lost=str(spec.job.env.get(RETRY_ON_WORKER_LOST, "")).strip().lower()
            in ("true", "1", "yes"),
        )

    def _filtered_legs(self, job: Job, combinations: list[dict[str, Any]]) -> list[int]:
        """``--matrix``: the legs kept (each keeps GitHub's job-index and job-total)."""
        wanted = self.options.matrix_filter or {}
        legs = select_legs(combinations, wanted)
        if not legs:
            where = job.positions.get("strategy", job.position)
            given = " ".join(f"--matrix {key}={v}" for key, texts in wanted.items() for v in texts)
            names = ", ".join(matrix_job_name(job.id, values) for values in combinations)
            raise EngineProblem(
                f"{where}: {given} matches no leg of job '{job.id}': its legs are {names}"
            )
        return legs

    # -- jobs that call a reusable workflow -----------------------------------------------

    def _call(self, instance: _Instance, contexts: dict[str, Any]) -> None:
        """Start one call: its workflow's jobs join the run as ``caller / job``."""
        spec, node = instance.spec, instance.group.node
        frame = node.frame
        masker = self.shared.masker
        try:
            called = self.loader.open(node.job, frame)
            inputs = call_inputs(node.job, called, contexts)
            secrets = call_secrets(
                node.job, called, {**contexts, "secrets": frame.secrets}, frame.secrets
            )
        except EngineProblem as problem:
            instance.group.running -= 1
            self._end_unstarted(instance, Status.FAILURE, masker.mask(str(problem)))
            return
        for value in secrets.values():
            masker.add(value)  # a value made from a secret is as secret
        child = CallFrame(
            workflow=called.workflow,
            source=called.source,
            inputs=inputs,
            secrets=secrets,
            level=frame.level + 1,
            chain=(*frame.chain, called.identity),
            key_prefix=f"{spec.job_key} / ",
            name_prefix=f"{spec.name} / ",
            top_job_id=frame.top_job_id or node.job.id,
            order=self.order[spec.job_key],
            cancellation=spec.cancellation,
        )
        keys = self._add_nodes(child, list(called.workflow.jobs))
        self.calls.append(_PendingCall(instance, called, child, keys))

    def _finish_calls(self) -> bool:
        """End each call whose jobs are all done (inner calls first: they were made later)."""
        finished = False
        for call in reversed(list(self.calls)):
            if all(key in self.done for key in call.node_keys):
                self.calls.remove(call)
                self._finish_call(call)
                finished = True
        return finished

    def _finish_call(self, call: _PendingCall) -> None:
        spec = call.instance.spec
        call.instance.group.running -= 1
        finished = {
            self.nodes[key].job.id: {
                "result": self.done[key].result,
                "outputs": self.done[key].outputs,
            }
            for key in call.node_keys
        }
        status = _combined([job["result"] for job in finished.values()])
        scope = {
            "github": github_context(self.workflow, self.options, self.git, spec.job.id, ""),
            "inputs": call.frame.inputs,
            "vars": self.options.variables,
        }
        try:
            outputs = call_outputs(call.called.workflow, finished, scope)
        except EngineProblem as problem:
            self._end_unstarted(
                call.instance, Status.FAILURE, self.shared.masker.mask(str(problem))
            )
            return
        result = JobResult(
            job_key=spec.job_key,
            job_id=call.frame.top_job_id or spec.job.id,
            name=spec.name,
            status=Status(status),
            matrix=spec.matrix,
        )
        # The called jobs have their results; the call itself is no job of its own.
        self._instance_done(call.instance, result, outputs, record=False)

    # -- jobs decided before they run -------------------------------------------------------

    def _skip_jobs_not_served_here(self) -> None:
        """A job whose runs-on is written out (no expression) and names another system
        is skipped before anything starts, not once the jobs it needs are done."""
        if self.options.host_labels is None:
            return
        with self.condition:
            for key in list(self.waiting):
                node = self.nodes[key]
                job = node.job
                if job.runs_on is None or "${{" in repr(job.runs_on):
                    continue
                why = self.options.host_labels.not_served(labels_of(job.runs_on))
                if why is not None:
                    self.waiting.remove(key)
                    self._job_without_instances(node, Status.SKIPPED, self.shared.masker.mask(why))
            outbox, self.outbox = self.outbox, []
        for event in outbox:
            self.sink.emit(event)

    def _not_served(self, job: Job, contexts: dict[str, Any]) -> str | None:
        if self.options.host_labels is None or job.runs_on is None:
            return None
        where = job.positions.get("runs-on", job.position)
        runs_on = evaluation.value(job.runs_on, contexts, where, "runs-on")
        why = self.options.host_labels.not_served(labels_of(runs_on))
        return None if why is None else self.shared.masker.mask(why)

    def _skip_instance(self, instance: _Instance, reason: str) -> None:
        self._end_unstarted(instance, Status.SKIPPED, reason)

    def _end_unstarted(self, instance: _Instance, status: Status, reason: str) -> None:
        """A job that never started ends here, with ``status`` and why."""
        spec = instance.spec
        job_id = instance.group.node.frame.top_job_id or spec.job.id
        self.outbox.append(
            JobFinished(
                job_key=spec.job_key,
                job_id=job_id,
                status=status,
                duration=0.0,
                reason=reason,
                name=spec.name,
                matrix=spec.matrix,
            )
        )
        result = JobResult(
            job_key=spec.job_key,
            job_id=job_id,
            name=spec.name,
            status=status,
            matrix=spec.matrix,
            reason=reason,
        )
        self._instance_done(instance, result, {})

    def _display_name(
        self,
        node: _Node,
        values: dict[str, Any],
        strategy: dict[str, Any],
        contexts: dict[str, Any],
        is_matrix: bool,
    ) -> str:
        job = node.job
        prefix = node.frame.name_prefix
        if job.name and "${{" in job.name:
            name_contexts = {**contexts, "matrix": values, "strategy": strategy}
            where = job.positions.get("name", job.position)
            return prefix + evaluation.string(job.name, name_contexts, where, "name")
        base = job.name or job.id
        return prefix + (matrix_job_name(base, values) if is_matrix else base)

    def _unique_key(self, key: str) -> str:
        taken = set(self.results) | {i.spec.job_key for i in self.queue} | set(self.order)
        if key not in taken:
            return key
        number = 2
        while f"{key} #{number}" in taken:
            number += 1
        return f"{key} #{number}"

    def _job_without_instances(self, node: _Node, status: Status, reason: str | None) -> None:
        """A job decided before it runs: skipped, cancelled, or failed to start."""
        job = node.job
        local = job.name if job.name and "${{" not in job.name else job.id
        name = node.frame.name_prefix + local
        job_id = node.frame.top_job_id or job.id
        self.outbox.append(
            JobFinished(
                job_key=node.key,
                job_id=job_id,
                status=status,
                duration=0.0,
                reason=reason,
                name=name,
            )
        )
        self.order[node.key] = (*node.order, 0)
        self.results[node.key] = JobResult(
            job_key=node.key, job_id=job_id, name=name, status=status, reason=reason
        )
        self.done[node.key] = _JobDone(
            result=status.value,
            outputs={name: "" for name in job.outputs},
            failed=status == Status.FAILURE,
        )

    # -- starting and finishing instances -----------------------------------------------

    def _start_instances(self) -> bool:
        """Start what the limits allow; True when a call started (its jobs wait to be
        released)."""
        calls_started = False
        index = 0
        while index < len(self.queue) and self.running < max(self.options.max_parallel_jobs, 1):
            instance = self.queue[index]
            group = instance.group
            if instance.linked and self.cancellation.cancelled:
                instance.spec.cancellation.cancel()
            if instance.spec.cancellation.cancelled:
                # Cancelled before it started (Ctrl-C or fail-fast): it never runs.
                self.queue.pop(index)
                self._end_unstarted(instance, Status.CANCELLED, "cancelled")
                continue
            if group.running >= group.max_parallel:
                index += 1
                continue
            self.queue.pop(index)
            group.running += 1
            if instance.call_contexts is not None:
                self._call(instance, instance.call_contexts)  # no thread: its jobs join
                calls_started = True
                continue
            self.running += 1
            thread = threading.Thread(
                target=self._work, args=(instance,), name=f"job {instance.spec.job_key}"
            )
            self.threads.append(thread)
            thread.start()
        return calls_started

    def _work(self, instance: _Instance) -> None:
        spec = instance.spec
        unsubscribe = (
            self.cancellation.on_cancel(spec.cancellation.cancel) if instance.linked else None
        )
        raw_outputs: dict[str, str] = {}
        try:
            if self.launcher is not None:
                outcome = self.launcher.run_job(instance.plan, spec.cancellation, self.sink.emit)
                result, raw_outputs = outcome.result, outcome.raw_outputs
            else:
                runner = JobRunner(self.shared, spec)
                result = runner.run()
                raw_outputs = runner.raw_outputs
        except BaseException as error:  # a bug in the engine: fail the job, keep the run going
            reason = f"internal error: {type(error).__name__}: {error}"
            job_id = spec.called.top_job_id if spec.called else spec.job.id
            result = JobResult(
                job_key=spec.job_key,
                job_id=job_id,
                name=spec.name,
                status=Status.FAILURE,
                matrix=spec.matrix,
                reason=reason,
            )
            self.internal_error = self.internal_error or reason
            try:
                self.sink.emit(
                    JobFinished(
                        job_key=spec.job_key,
                        job_id=job_id,
                        status=Status.FAILURE,
                        duration=0.0,
                        reason=reason,
                        name=spec.name,
                        matrix=spec.matrix,
                    )
                )
            except Exception:
                pass  # the sink itself is what failed; the RunFinished reason still says why
        finally:
            if unsubscribe is not None:
                unsubscribe()
        with self.condition:
            instance.group.running -= 1
            self.running -= 1
            self._instance_done(instance, result, raw_outputs)
            self.condition.notify_all()

    def _instance_done(
        self,
        instance: _Instance,
        result: JobResult,
        raw_outputs: dict[str, str],
        record: bool = True,
    ) -> None:
        group = instance.group
        if record:
            self.results[result.job_key] = result
        group.finished.append((result, raw_outputs))
        if (
            result.status == Status.FAILURE
            and not result.continued_on_error
            and group.fail_fast
            and group.total > 1
        ):
            for sibling in group.instances:
                sibling.spec.cancellation.cancel()
        if len(group.finished) == group.total:
            self.done[group.node.key] = _aggregate(group)

    # -- the end -------------------------------------------------------------------------

    def _finish(self, started: float) -> RunResult:
        duration = time.monotonic() - started
        reason: str | None = None
        if self.internal_error:
            status, reason = Status.FAILURE, self.shared.masker.mask(self.internal_error)
        elif self.cancellation.cancelled:
            status, reason = Status.CANCELLED, "cancelled"
        else:
            failed = [
                r
                for r in self.results.values()
                if r.status == Status.FAILURE and not r.continued_on_error
            ]
            status = Status.FAILURE if failed else Status.SUCCESS
            if failed:
                first = failed[0]
                reason = f"job '{first.job_key}' failed" + (
                    f": {first.reason}" if first.reason else ""
                )
        reason = self.shared.masker.mask_optional(reason)
        self._report_artifacts()
        self.sink.emit(RunFinished(status=status, duration=duration, reason=reason))
        ordered = self._ordered_results()
        return RunResult(status=status, duration=duration, jobs=ordered, reason=reason)

    def _report_artifacts(self) -> None:
        import os

        from conveyor.engine.options import run_artifacts_dir

        if not os.path.isdir(run_artifacts_dir(self.options)):
            return  # nothing uploaded: the store's code is not even imported
        from conveyor.actions.artifact_store import list_run_artifacts

        try:
            artifacts = list_run_artifacts(self.options)
        except OSError:
            return  # the uploads said where they went; the list is a summary
        if artifacts:
            self.sink.emit(RunArtifacts(artifacts=artifacts))

    def _ordered_results(self) -> dict[str, JobResult]:
        # File order of jobs, then matrix order within a job, whatever order they ended in;
        # a called job sorts where its caller is.
        def position(key: str) -> tuple[int, ...]:
            return self.order[key]

        return {key: self.results[key] for key in sorted(self.results, key=position)}

    def _finish_early(self, started: float, reason: str) -> RunResult:
        duration = time.monotonic() - started
        self.sink.emit(RunFinished(status=Status.FAILURE, duration=duration, reason=reason))
        return RunResult(status=Status.FAILURE, duration=duration, reason=reason)


def _combined(results: list[str]) -> str:
    """``needs.<id>.result`` of a job made of several (matrix combinations, called jobs)."""
    if "failure" in results:
        return "failure"
    if "cancelled" in results:
        return "cancelled"
    if results and all(result == "skipped" for result in results):
        return "skipped"
    return "success"


def _aggregate(group: _Group) -> _JobDone:
    statuses = [Status.SUCCESS if r.continued_on_error else r.status for r, _ in group.finished]
    result = _combined([status.value for status in statuses])
    outputs: dict[str, str] = {name: "" for name in group.node.job.outputs}
    for _, raw in group.finished:
        for name, value in raw.items():
            if value != "" or name not in outputs:
                outputs[name] = value
    return _JobDone(result=result, outputs=outputs, failed=result == "failure")
