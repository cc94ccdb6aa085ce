"""The jobs this server process coordinates and has sent to workers, by dispatch id.

The launcher (``launcher.py``) registers each attempt it sends and blocks on it; the
worker API (``worker_api.py``) reaches it here to feed the worker's events into the
run's sink in order, hand over the outcome, or answer a cancellation. An attempt that
is not here belongs to no coordinator in this process (the server restarted): the
API then answers 503 and the worker sends the same again later.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conveyor.engine.events import Event, JobFinished, StepFinished, StepStarted
from conveyor.engine.plan import JobOutcome, JobPlan
from conveyor.executors.base import Cancellation


@dataclass
class InFlight:
    """One attempt of one job, sent to the workers and awaited by its launcher."""

    dispatch_id: int
    run_id: int
    plan: JobPlan
    emit: Callable[[Event], None]
    cancellation: Cancellation
    done: threading.Event = field(default_factory=threading.Event)
    outcome: JobOutcome | None = None
    lost_reason: str | None = None  # set with ``done`` when its worker was lost
    # Serialises the worker API's calls about this attempt, so batches go in order.
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Steps started and not finished: a lost worker's running step ends failed.
    open_steps: dict[int, StepStarted] = field(default_factory=dict)
    # Environment gate calls in progress or answered, by environment name.
    gates: dict[str, Any] = field(default_factory=dict)
    job_finished: bool = False  # the worker's JobFinished was passed on

    def forward(self, event: Event) -> None:
        """Pass one of the worker's events to the run's sink."""
        if isinstance(event, StepStarted) and event.job_key == self.plan.job_key:
            self.open_steps[event.step] = event
        elif isinstance(event, StepFinished):
            self.open_steps.pop(event.step, None)
        elif isinstance(event, JobFinished) and event.job_key == self.plan.job_key:
            self.job_finished = True
        self.emit(event)

    def finish(self, outcome: JobOutcome) -> None:
        self.outcome = outcome
        self.done.set()

    def lose(self, reason: str) -> None:
        self.lost_reason = reason
        self.done.set()


_in_flight: dict[int, InFlight] = {}
_lock = threading.Lock()


def register(entry: InFlight) -> None:
    with _lock:
        _in_flight[entry.dispatch_id] = entry


def unregister(dispatch_id: int) -> None:
    with _lock:
        _in_flight.pop(dispatch_id, None)


def get(dispatch_id: int) -> InFlight | None:
    with _lock:
        return _in_flight.get(dispatch_id)


def all_in_flight() -> list[InFlight]:
    with _lock:
        return list(_in_flight.values())


def release_gates(entry: InFlight, status: Any, url: str = "") -> None:
    """Release the deployments this attempt was granted (each once)."""
    for call in list(entry.gates.values()):
        call.release(status, url)


def end_gates(entry: InFlight, status: Any) -> None:
    """The attempt is over: a gate still waiting stops, and a deployment its worker did
    not release (it was lost, or never said) is released with the job's status."""
    for call in list(entry.gates.values()):
        call.end(status)
