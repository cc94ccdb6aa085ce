"""The server's Celery app: it only sends job messages, it never runs a task.

Built from the settings on first use, so a server without ``CONVEYOR_BROKER_URL``
never imports Celery. The message names one attempt of one job and its token
(``protocol.RUN_JOB_TASK``); the worker side registers that task under the same
name, so nothing of the worker's code is imported here.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings

from conveyor.server.dispatch import protocol
from conveyor.server.dispatch.mode import jobs_run_on_workers

logger = logging.getLogger("conveyor.server.dispatch")

_app: Any = None
_app_lock = threading.Lock()


def broker_configured() -> bool:
    return jobs_run_on_workers()


def make_app(broker_url: str) -> Any:
    from celery import Celery

    app = Celery("conveyor-server", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        # A message is acknowledged after its job ended, so a worker killed mid-job
        # leaves it for another delivery (which the claim then turns away or takes).
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        task_default_queue=protocol.DEFAULT_QUEUE,
        task_ignore_result=True,
    )
    return app


def app() -> Any:
    """The app of ``settings.CONVEYOR_BROKER_URL``, made once per process."""
    global _app
    with _app_lock:
        if _app is None or _app.conf.broker_url != settings.CONVEYOR_BROKER_URL:
            _app = make_app(settings.CONVEYOR_BROKER_URL)
        return _app


def send_job(dispatch_id: int, token: str, queue: str) -> None:
    """Put the message of one job attempt on ``queue``; raises when the broker cannot
    be reached (after Celery's own retries)."""
    app().send_task(
        protocol.RUN_JOB_TASK,
        args=[dispatch_id, token],
        queue=queue,
        retry=True,
        retry_policy={"max_retries": 5, "interval_start": 0.2, "interval_step": 0.5},
    )


# (queue, workers) -> when they were last asked: one broadcast per queue and minute.
_asked: dict[tuple[str, frozenset[str]], float] = {}
ASK_AGAIN_SECONDS = 60.0


def ask_to_consume(queue: str, worker_names: list[str]) -> None:
    """Tell live workers to consume ``queue`` now rather than at their next heartbeat."""
    if not worker_names or queue == protocol.DEFAULT_QUEUE:
        return
    key = (queue, frozenset(worker_names))
    now = time.monotonic()
    with _app_lock:
        if now - _asked.get(key, -ASK_AGAIN_SECONDS) < ASK_AGAIN_SECONDS:
            return
        _asked[key] = now
    try:
        app().control.add_consumer(queue, destination=worker_names, reply=False)
    except Exception as error:  # the heartbeat's answer tells them anyway
        logger.warning("could not ask workers to consume %s: %s", queue, error)
