"""The worker's heartbeat: who it is, what it runs, whether it is stopping.

Every ``HEARTBEAT_SECONDS`` it tells the server, and the answer says which broker
queues to consume (the label sets this worker serves) and which of its jobs were
cancelled.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from conveyor import __version__
from conveyor.server.dispatch.protocol import HEARTBEAT_PATH, HEARTBEAT_SECONDS
from conveyor.worker.client import ServerClient, ServerUnreachable
from conveyor.worker.jobs import WorkerJobs

logger = logging.getLogger("conveyor.worker")


class Heartbeat:
    """A thread that beats until ``stop``; ``on_queues`` gets each answer's queues."""

    def __init__(
        self,
        client: ServerClient,
        jobs: WorkerJobs,
        on_queues: Callable[[list[str]], None],
        interval: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.client = client
        self.jobs = jobs
        self.on_queues = on_queues
        self.interval = interval
        self.started_at = datetime.now(UTC).isoformat()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="conveyor-heartbeat", daemon=True)
        self._failing = False

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def beat_now(self) -> None:
        """Send the next heartbeat at once (the worker just started stopping)."""
        self._wake.set()

    def stop(self, last: bool = True) -> None:
        """Stop beating; with ``last``, one more beat says what is running now."""
        self._stop.set()
        self._wake.set()
        self._thread.join()
        if last:
            self.beat()

    def body(self) -> dict[str, Any]:
        config = self.jobs.config
        uname = os.uname()
        return {
            "name": config.name,
            "labels": list(config.labels),
            "system": uname.sysname,
            "machine": uname.machine,
            "concurrency": config.concurrency,
            "version": __version__,
            "started_at": self.started_at,
            "running": self.jobs.running(),
            "stopping": self.jobs.stopping.is_set(),
        }

    def beat(self) -> bool:
        """One heartbeat; True when the server answered it."""
        try:
            answer = self.client.send("POST", HEARTBEAT_PATH, self.body())
        except ServerUnreachable as error:
            self._complain(str(error))
            return False
        if not answer.ok:
            self._complain(f"heartbeat answered {answer.status}: {answer.detail()}")
            return False
        if self._failing:
            logger.info("the server answers heartbeats again")
            self._failing = False
        given = answer.body if isinstance(answer.body, dict) else {}
        cancel = given.get("cancel")
        if isinstance(cancel, list) and cancel:
            self.jobs.cancel(cancel)
        queues = given.get("queues")
        if isinstance(queues, list):
            self.on_queues([str(queue) for queue in queues if isinstance(queue, str) and queue])
        return True

    def _complain(self, problem: str) -> None:
        if not self._failing:
            logger.warning("%s; trying again every %.0f s", problem, self.interval)
            self._failing = True

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except Exception:  # never let the heartbeat die of one bad answer
                logger.exception("heartbeat failed")
            self._wake.wait(self.interval)
            self._wake.clear()
