"""The Celery side of a worker: the task the server sends, and the queues it consumes.

A thread pool of ``--concurrency`` threads takes ``RUN_JOB_TASK`` messages, one at
a time each (prefetch 1), acknowledged only when the job is over (late
acknowledgement: a worker killed mid-job leaves its message to the broker, and
the server's heartbeat bookkeeping decides what becomes of the job). The worker
consumes ``DEFAULT_QUEUE`` from the start and the queues the heartbeat's answer
names as they come. SIGTERM is Celery's warm shutdown: no new job is taken, the
running ones finish, and the heartbeat says ``stopping: true`` meanwhile.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery, bootsteps
from celery.exceptions import Reject
from celery.signals import worker_shutting_down

from conveyor.server.dispatch.protocol import DEFAULT_QUEUE, RUN_JOB_TASK
from conveyor.worker.client import ServerClient
from conveyor.worker.config import WorkerConfig
from conveyor.worker.heartbeat import Heartbeat
from conveyor.worker.jobs import Requeue, WorkerJobs
from conveyor.worker.sandboxing import SandboxChoice

logger = logging.getLogger("conveyor.worker")


class QueueSwitch:
    """The broker queues this worker consumes, kept as the heartbeat's answers say.

    Changes are made in the Celery consumer's own loop (``call_soon``), never from
    the heartbeat's thread directly."""

    def __init__(self, jobs: WorkerJobs) -> None:
        self.jobs = jobs
        self.consumer: Any = None
        self.consuming = {DEFAULT_QUEUE}
        self._wanted = {DEFAULT_QUEUE}
        self._lock = threading.Lock()

    def want(self, queues: list[str]) -> None:
        with self._lock:
            self._wanted = {DEFAULT_QUEUE, *queues}
            consumer = self.consumer
        if consumer is not None:
            consumer.call_soon(self.apply)

    def attach(self, consumer: Any) -> None:
        with self._lock:
            self.consumer = consumer
        consumer.call_soon(self.apply)

    def detach(self) -> None:
        with self._lock:
            self.consumer = None

    def apply(self) -> None:
        with self._lock:
            consumer, wanted = self.consumer, set(self._wanted)
        if consumer is None or self.jobs.stopping.is_set() or consumer.task_consumer is None:
            return
        for queue in sorted(wanted - self.consuming):
            logger.info("consuming queue %s", queue)
            consumer.add_task_queue(queue)
            self.consuming.add(queue)
        for queue in sorted(self.consuming - wanted):
            consumer.cancel_task_queue(queue)
            self.consuming.discard(queue)


def make_app(config: WorkerConfig, jobs: WorkerJobs, queues: QueueSwitch) -> Celery:
    app = Celery("conveyor-worker", broker=config.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_default_queue=DEFAULT_QUEUE,
        task_create_missing_queues=True,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        # Jobs report over HTTP; the broker only delivers them.
        worker_send_task_events=False,
        worker_enable_remote_control=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )

    @app.task(name=RUN_JOB_TASK, acks_late=True, ignore_result=True)
    def run_job(dispatch_id: Any, job_token: Any) -> str:
        try:
            dispatch = int(dispatch_id)
        except (TypeError, ValueError):
            logger.error("a message with dispatch id %r: not one; dropped", dispatch_id)
            return "dropped"
        try:
            what = jobs.run(dispatch, str(job_token))
        except Requeue as requeue:
            raise Reject(str(requeue), requeue=True) from None
        logger.info("dispatch %s: %s", dispatch, what)
        return what

    class AttachQueues(bootsteps.StartStopStep):
        requires = {"celery.worker.consumer.tasks:Tasks"}

        def start(self, consumer: Any) -> None:
            queues.attach(consumer)

        def stop(self, consumer: Any) -> None:
            queues.detach()

    app.steps["consumer"].add(AttachQueues)
    return app


def run_worker(config: WorkerConfig, sandbox: SandboxChoice) -> int:
    """Run the worker until it is told to stop; its exit code."""
    client = ServerClient(config.server_url, config.worker_token)
    jobs = WorkerJobs(config, client, sandbox)
    queues = QueueSwitch(jobs)
    app = make_app(config, jobs, queues)
    heartbeat = Heartbeat(client, jobs, queues.want)

    def stopping(**_: Any) -> None:
        jobs.stopping.set()
        heartbeat.beat_now()

    worker_shutting_down.connect(stopping, weak=False)
    heartbeat.start()
    worker = app.Worker(
        hostname=config.name,
        pool="threads",
        concurrency=config.concurrency,
        queues=[DEFAULT_QUEUE],
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
        loglevel="INFO",
        optimization="fair",
    )
    try:
        worker.start()
    finally:
        jobs.stopping.set()
        heartbeat.stop(last=True)
        worker_shutting_down.disconnect(stopping)
    return int(worker.exitcode or 0)
