"""A worker's job asking the server's environment gate, without holding a request open.

The gate (``runs.environments.EnvironmentGate``) blocks while the job waits for an
approval or its turn. The worker API starts it once per job and environment in a
thread of its own and answers each ask with where it stands: granted, refused, or
still waiting (and why, as the run page shows it).
"""

from __future__ import annotations

import threading
from typing import Any

from conveyor.engine.environments import EnvironmentGrant, EnvironmentRefused, EnvironmentRequest
from conveyor.engine.events import Event, Status
from conveyor.executors.base import Cancellation
from conveyor.server.dispatch.registry import InFlight
from conveyor.server.runs.environments import EnvironmentGate, JobWaiting
from conveyor.server.runs.models import Run


class GateCall:
    """One job's passage through one environment's gate."""

    def __init__(self, entry: InFlight, run: Run, name: str, url: str) -> None:
        self.entry = entry
        self.name = name
        self.waiting = f"waiting for environment {name!r}"
        self.grant: EnvironmentGrant | None = None
        self.refused: EnvironmentRefused | None = None
        self.done = threading.Event()
        self._released = False
        self._release_lock = threading.Lock()
        self._gate = EnvironmentGate(run, self._emit)
        # Its own: the wait also ends when the attempt does (its worker lost), not only
        # when the job is cancelled.
        self.cancellation = Cancellation()
        self._unlink = entry.cancellation.on_cancel(self.cancellation.cancel)
        self._request = EnvironmentRequest(
            job_key=entry.plan.job_key,
            job_id=entry.plan.job_id,
            name=name,
            url=url,
            cancellation=self.cancellation,
        )
        self._thread = threading.Thread(
            target=self._call,
            name=f"environment {name} of dispatch {entry.dispatch_id}",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def _emit(self, event: Event) -> None:
        if isinstance(event, JobWaiting) and event.reason:
            self.waiting = event.reason
        self.entry.emit(event)

    def _call(self) -> None:
        try:
            self.grant = self._gate(self._request)
        except EnvironmentRefused as refused:
            self.refused = refused
        except Exception as error:  # a bug or the database: the job must not wait forever
            self.refused = EnvironmentRefused(f"the environment gate failed: {error}")
        finally:
            self.done.set()

    def answer(self, wait: float = 0.05) -> tuple[int, dict[str, Any]]:
        """The worker API's answer: 200 granted, 403 refused, 202 waiting. It waits
        only a moment: a synchronous view holds a thread the other requests share."""
        self.done.wait(wait)
        if self.grant is not None:
            return 200, {"secrets": self.grant.secrets, "variables": self.grant.variables}
        if self.refused is not None:
            return 403, {"reason": str(self.refused), "status": self.refused.status.value}
        return 202, {"waiting": self.waiting}

    def end(self, status: Status | str) -> None:
        """The attempt is over: stop waiting, and release what was granted."""
        self._unlink()
        self.cancellation.cancel()
        self.done.wait(5.0)
        self.release(status)

    def release(self, status: Status | str, url: str = "") -> None:
        with self._release_lock:
            if self._released or self.grant is None:
                return
            self._released = True
        self.grant.release(Status(status), url)
