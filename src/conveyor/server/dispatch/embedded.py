"""The embedded worker pool: N threads in the server process that run queued tasks.

Each thread claims ready ``DBTaskResult`` rows (django-tasks-db's own model API,
in an exclusive transaction so two workers never take the same task) and runs
them. Between tasks a thread waits on a ``threading.Event`` that the
``task_enqueued`` signal sets once the enqueuing transaction commits, so a run
enqueued in this process starts at once; the 1 s timeout only picks up tasks
enqueued by other processes (``conveyor`` commands, a second server).
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.db import OperationalError, close_old_connections, connections, transaction

logger = logging.getLogger("conveyor.server.worker")

POLL_FALLBACK = 1.0  # seconds; only for work enqueued by other processes

_work_available = threading.Event()


def wake_workers() -> None:
    _work_available.set()


def _on_task_enqueued(sender: Any, **kwargs: Any) -> None:
    # The row is visible to the workers only once the enqueuing transaction commits.
    transaction.on_commit(wake_workers)


def connect_signals() -> None:
    from django_tasks_db.compat import task_enqueued

    task_enqueued.connect(_on_task_enqueued, dispatch_uid="conveyor-wake-workers")


def worker_id_prefix(server_id: str | None = None) -> str:
    """How the worker ids of a server's pool begin (``DBTaskResult.worker_ids``): its
    start-up recovery fails only the tasks its own workers were running, not those of
    another server sharing the database."""
    from django.conf import settings

    return f"embedded-{server_id or settings.SERVER_ID}-"


class EmbeddedWorkerPool:
    """``count`` worker threads; ``start()`` once, ``stop()`` to end them."""

    def __init__(
        self, count: int, backend_name: str = "default", queues: tuple[str, ...] = ("default",)
    ) -> None:
        self.count = count
        self.backend_name = backend_name
        self.queues = queues
        self.threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._prefix = f"{worker_id_prefix()}{uuid.uuid4().hex[:8]}"

    def start(self) -> None:
        for number in range(self.count):
            thread = threading.Thread(
                target=self._work,
                args=(f"{self._prefix}-{number}",),
                name=f"conveyor-worker-{number}",
                daemon=True,
            )
            self.threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 30.0, cancel_runs: bool = True) -> list[int]:
        """Stop claiming, cancel the runs in progress, wait for the threads to end.

        Returns the ids of the runs it cancelled. Cancelling is repeated while the
        threads end, so a run claimed at the moment ``stop`` began is cancelled too.
        Without ``cancel_runs`` (their jobs run on workers, which go on) the runs are
        left as they are, for the next start to coordinate again.
        """
        import time

        from conveyor.server.runs import execute

        self._stopping.set()
        _work_available.set()
        if not cancel_runs:
            self.threads.clear()
            return []
        cancelled: set[int] = set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            while thread.is_alive() and time.monotonic() < deadline:
                cancelled.update(execute.cancel_all_in_process())
                thread.join(0.1)
        self.threads.clear()
        return sorted(cancelled)

    # -- one worker thread ----------------------------------------------------------

    def _work(self, worker_id: str) -> None:
        try:
            while not self._stopping.is_set():
                # Cleared before looking, so an enqueue during the look is not missed.
                _work_available.clear()
                while not self._stopping.is_set() and self._run_one(worker_id):
                    pass
                # set() wakes every waiting thread; they race for the tasks in _claim.
                _work_available.wait(POLL_FALLBACK)
        finally:
            connections.close_all()

    def _claim(self, worker_id: str) -> Any:
        from django_tasks_db.models import DBTaskResult
        from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

        close_old_connections()
        tasks = DBTaskResult.objects.ready().filter(
            backend_name=self.backend_name, queue_name__in=self.queues
        )
        try:
            with exclusive_transaction(tasks.db):
                result = tasks.get_locked()
                if result is not None:
                    result.claim(worker_id)
                return result
        except OperationalError as error:
            if is_locked_database_exception(error):
                return None
            raise

    def _run_one(self, worker_id: str) -> bool:
        """Claim and run one task; False when there was none."""
        try:
            db_result = self._claim(worker_id)
        except Exception:
            logger.exception("the worker could not claim a task")
            self._stopping.wait(POLL_FALLBACK)
            return False
        if db_result is None:
            return False
        run_task(db_result)
        return True


def run_task(db_result: Any) -> None:
    """Run a claimed task and record its outcome, as django-tasks-db's worker does."""
    from django_tasks_db.compat import TaskContext, task_finished, task_started

    try:
        task = db_result.task
        task_result = db_result.task_result
        backend_type = type(task.get_backend())
        task_started.send(sender=backend_type, task_result=task_result)
        if task.takes_context:
            value = task.call(
                TaskContext(task_result=task_result), *task_result.args, **task_result.kwargs
            )
        else:
            value = task.call(*task_result.args, **task_result.kwargs)
        db_result.set_successful(value)
        task_finished.send(sender=backend_type, task_result=db_result.task_result)
    except BaseException as error:
        logger.exception("task %s failed", db_result.id)
        try:
            db_result.set_failed(error)
        except Exception:
            logger.exception("could not record the failure of task %s", db_result.id)
        try:
            task_finished.send(
                sender=type(db_result.task.get_backend()), task_result=db_result.task_result
            )
        except (ImportError, SuspiciousOperation, Exception):
            pass
        if isinstance(error, KeyboardInterrupt | SystemExit):
            raise
