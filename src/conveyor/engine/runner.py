"""Run a workflow's job graph: the public entry point of the engine.

``run_workflow`` schedules jobs as threads (at most ``max_parallel_jobs`` at
once, a job when all of its ``needs`` are done), expands matrices when their job
becomes ready, and reports everything to the sink, one event at a time.

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
from typing import Any

from conveyor.engine import evaluation
from conveyor.engine.contexts import debug_enabled, github_context
from conveyor.engine.evaluation import EngineProblem
from conveyor.engine.events import Event, JobFinished, RunFinished, RunStarted, Sink, Status
from conveyor.engine.git_info import GitInfo, read_git_info
from conveyor.engine.job_runner import JobRunner, JobSpec, RunShared
from conveyor.engine.masking import Masker
from conveyor.engine.options import RunOptions
from conveyor.engine.results import JobResult, RunResult, StepResult
from conveyor.engine.runner_labels import labels_of
from conveyor.executors.base import Cancellation, Executor
from conveyor.records import field, record
from conveyor.workflow.expressions import JobStatus
from conveyor.workflow.matrix import expand_matrix, matrix_job_name
from conveyor.workflow.model import Job, Workflow

__all__ = [
    "GitInfo",
    "JobResult",
    "RunOptions",
    "RunResult",
    "StepResult",
    "run_workflow",
]

# A job `if` naming one of these decides for itself whether failed or skipped needs stop it.
_STATUS_FUNCTION = r"(?i)\b(always|failure|cancelled)\s*\("  # compiled when first used


def run_workflow(
    workflow: Workflow,
    options: RunOptions,
    executor: Executor,
    sink: Sink,
    cancellation: Cancellation | None = None,
) -> RunResult:
    """Run ``workflow`` to its end and return what happened; events go to ``sink``.

    Raises ``ValueError`` (before any event) only when ``options.only_jobs`` names
    a job the workflow does not have. Everything else, including a bug inside the
    engine, ends in a ``RunFinished`` event and a ``RunResult``.
    """
    selected = select_jobs(workflow, options.only_jobs)
    return _Scheduler(
        workflow, options, executor, sink, cancellation or Cancellation(), selected
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
class _Instance:
    spec: JobSpec
    group: _Group
    linked: bool = True  # cancelled with the run


@record
class _Group:
    """The instances of one job: one, or one a matrix combination."""

    job: Job
    total: int
    max_parallel: int
    fail_fast: bool
    running: int = 0
    instances: list[_Instance] = field(default_factory=list)
    finished: list[tuple[JobResult, dict[str, str]]] = field(default_factory=list)


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
    ) -> None:
        self.workflow = workflow
        self.options = options
        self.cancellation = cancellation
        self.sink = _SerialisedSink(sink)
        self.selected = selected
        self.executor = executor
        self.condition = threading.Condition(threading.RLock())
        self.waiting: list[str] = list(selected)
        self.queue: list[_Instance] = []
        self.running = 0
        self.threads: list[threading.Thread] = []
        self.done: dict[str, _JobDone] = {}
        self.results: dict[str, JobResult] = {}
        self.internal_error: str | None = None
        self.order: dict[str, tuple[int, int]] = {}  # job_key -> (file position, combination)
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

    def _loop(self) -> None:
        while True:
            try:
                with self.condition:
                    self._release_ready_jobs()
                    self._start_instances()
                    finished = not self.waiting and not self.queue and self.running == 0
                    if self.waiting and not self.queue and self.running == 0:
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

    def _release_ready_jobs(self) -> None:
        for job_id in list(self.waiting):
            job = self.workflow.jobs[job_id]
            if all(need in self.done for need in job.needs):
                self.waiting.remove(job_id)
                self._release(job)

    def _fail_unreachable(self) -> None:
        for job_id in list(self.waiting):
            job = self.workflow.jobs[job_id]
            missing = [need for need in job.needs if need not in self.workflow.jobs]
            if missing:
                why = f"needs {', '.join(missing)}, which the workflow does not define"
            else:
                why = "its needs form a cycle"
            where = job.positions.get("needs", job.position)
            self.waiting.remove(job_id)
            self._job_without_instances(job, Status.FAILURE, f"{where}: {why}")

    def _ancestors(self, job: Job) -> set[str]:
        seen: set[str] = set()
        pending = list(job.needs)
        while pending:
            job_id = pending.pop()
            if job_id in seen:
                continue
            seen.add(job_id)
            if job_id in self.workflow.jobs:
                pending.extend(self.workflow.jobs[job_id].needs)
        return seen

    def _job_contexts(self, job: Job) -> dict[str, Any]:
        return {
            "github": github_context(self.workflow, self.options, self.git, job.id, ""),
            "needs": {
                need: {"result": self.done[need].result, "outputs": self.done[need].outputs}
                for need in job.needs
                if need in self.done
            },
            "vars": self.options.variables,
            "inputs": self.shared.inputs,
        }

    def _release(self, job: Job) -> None:
        contexts = self._job_contexts(job)
        ancestors_failed = any(self.done[a].failed for a in self._ancestors(job) if a in self.done)
        run_cancelled = self.cancellation.cancelled
        status = JobStatus(failed=ancestors_failed, cancelled=run_cancelled)
        where = job.positions.get("if", job.position)
        try:
            should_run = evaluation.condition(job.if_, contexts, status, where)
            decides_itself = bool(job.if_ and re.search(_STATUS_FUNCTION, str(job.if_)))
            if should_run and not decides_itself:
                should_run = all(contexts["needs"][n]["result"] == "success" for n in job.needs)
            if not should_run:
                self._job_without_instances(
                    job, Status.CANCELLED if run_cancelled else Status.SKIPPED, None
                )
                return
            self._create_instances(job, contexts, linked=not run_cancelled)
        except EngineProblem as problem:
            self._job_without_instances(job, Status.FAILURE, self.shared.masker.mask(str(problem)))
        except ValueError as error:  # MatrixError
            where = job.positions.get("strategy", job.position)
            reason = self.shared.masker.mask(f"{where}: strategy.matrix: {error}")
            self._job_without_instances(job, Status.FAILURE, reason)

    def _create_instances(self, job: Job, contexts: dict[str, Any], linked: bool) -> None:
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
        group = _Group(
            job=job, total=total, max_parallel=max_parallel or total, fail_fast=fail_fast
        )
        is_matrix = strategy is not None and strategy.matrix is not None
        not_here: list[tuple[_Instance, str]] = []
        for index, values in enumerate(combinations):
            strategy_context = {
                "fail-fast": fail_fast,
                "job-index": index,
                "job-total": total,
                "max-parallel": group.max_parallel,
            }
            job_key = self._unique_key(matrix_job_name(job.id, values) if is_matrix else job.id)
            self.order[job_key] = (self._job_position(job.id), index)
            name = self._display_name(job, values, strategy_context, contexts, is_matrix)
            spec = JobSpec(
                job=job,
                job_key=job_key,
                name=name,
                matrix=values,
                strategy=strategy_context,
                needs=contexts["needs"],
                cancellation=Cancellation(),
            )
            instance = _Instance(spec=spec, group=group, linked=linked)
            group.instances.append(instance)
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

    def _skip_jobs_not_served_here(self) -> None:
        """A job whose runs-on is written out (no expression) and names another system
        is skipped before anything starts, not once the jobs it needs are done."""
        if self.options.host_labels is None:
            return
        with self.condition:
            for job_id in list(self.waiting):
                job = self.workflow.jobs[job_id]
                if job.runs_on is None or "${{" in repr(job.runs_on):
                    continue
                why = self.options.host_labels.not_served(labels_of(job.runs_on))
                if why is not None:
                    self.waiting.remove(job_id)
                    self._job_without_instances(job, Status.SKIPPED, self.shared.masker.mask(why))
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
        self.outbox.append(
            JobFinished(
                job_key=spec.job_key,
                job_id=spec.job.id,
                status=status,
                duration=0.0,
                reason=reason,
                name=spec.name,
                matrix=spec.matrix,
            )
        )
        result = JobResult(
            job_key=spec.job_key,
            job_id=spec.job.id,
            name=spec.name,
            status=status,
            matrix=spec.matrix,
            reason=reason,
        )
        self._instance_done(instance, result, {})

    def _display_name(
        self,
        job: Job,
        values: dict[str, Any],
        strategy: dict[str, Any],
        contexts: dict[str, Any],
        is_matrix: bool,
    ) -> str:
        if job.name and "${{" in job.name:
            name_contexts = {**contexts, "matrix": values, "strategy": strategy}
            where = job.positions.get("name", job.position)
            return evaluation.string(job.name, name_contexts, where, "name")
        base = job.name or job.id
        return matrix_job_name(base, values) if is_matrix else base

    def _unique_key(self, key: str) -> str:
        taken = set(self.results) | {i.spec.job_key for i in self.queue}
        if key not in taken:
            return key
        number = 2
        while f"{key} #{number}" in taken:
            number += 1
        return f"{key} #{number}"

    def _job_without_instances(self, job: Job, status: Status, reason: str | None) -> None:
        """A job decided before it runs: skipped, cancelled, or failed to start."""
        name = job.name if job.name and "${{" not in job.name else job.id
        self.outbox.append(
            JobFinished(
                job_key=job.id, job_id=job.id, status=status, duration=0.0, reason=reason, name=name
            )
        )
        self.results[job.id] = JobResult(
            job_key=job.id, job_id=job.id, name=name, status=status, reason=reason
        )
        self.done[job.id] = _JobDone(
            result=status.value,
            outputs={name: "" for name in job.outputs},
            failed=status == Status.FAILURE,
        )

    # -- starting and finishing instances -----------------------------------------------

    def _start_instances(self) -> None:
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
            self.running += 1
            thread = threading.Thread(
                target=self._work, args=(instance,), name=f"job {instance.spec.job_key}"
            )
            self.threads.append(thread)
            thread.start()

    def _work(self, instance: _Instance) -> None:
        spec = instance.spec
        unsubscribe = (
            self.cancellation.on_cancel(spec.cancellation.cancel) if instance.linked else None
        )
        raw_outputs: dict[str, str] = {}
        try:
            runner = JobRunner(self.shared, spec)
            result = runner.run()
            raw_outputs = runner.raw_outputs
        except BaseException as error:  # a bug in the engine: fail the job, keep the run going
            reason = f"internal error: {type(error).__name__}: {error}"
            result = JobResult(
                job_key=spec.job_key,
                job_id=spec.job.id,
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
                        job_id=spec.job.id,
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
        self, instance: _Instance, result: JobResult, raw_outputs: dict[str, str]
    ) -> None:
        group = instance.group
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
            self.done[group.job.id] = _aggregate(group)

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
        self.sink.emit(RunFinished(status=status, duration=duration, reason=reason))
        ordered = self._ordered_results()
        return RunResult(status=status, duration=duration, jobs=ordered, reason=reason)

    def _job_position(self, job_id: str) -> int:
        return list(self.workflow.jobs).index(job_id)

    def _ordered_results(self) -> dict[str, JobResult]:
        # File order of jobs, then matrix order within a job, whatever order they ended in.
        def position(key: str) -> tuple[int, int]:
            return self.order.get(key, (self._job_position(self.results[key].job_id), 0))

        return {key: self.results[key] for key in sorted(self.results, key=position)}

    def _finish_early(self, started: float, reason: str) -> RunResult:
        duration = time.monotonic() - started
        self.sink.emit(RunFinished(status=Status.FAILURE, duration=duration, reason=reason))
        return RunResult(status=Status.FAILURE, duration=duration, reason=reason)


def _aggregate(group: _Group) -> _JobDone:
    statuses = [Status.SUCCESS if r.continued_on_error else r.status for r, _ in group.finished]
    if Status.FAILURE in statuses:
        result = "failure"
    elif Status.CANCELLED in statuses:
        result = "cancelled"
    elif statuses and all(s == Status.SKIPPED for s in statuses):
        result = "skipped"
    else:
        result = "success"
    outputs: dict[str, str] = {name: "" for name in group.job.outputs}
    for _, raw in group.finished:
        for name, value in raw.items():
            if value != "" or name not in outputs:
                outputs[name] = value
    return _JobDone(result=result, outputs=outputs, failed=result == "failure")
