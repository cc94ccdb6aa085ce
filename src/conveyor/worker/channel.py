"""A job's events on their way to the server, in numbered batches.

The engine emits events from the job's threads; a sender thread sends them in
batches (every ``BATCH_SECONDS``, or sooner once ``BATCH_BYTES`` are waiting),
numbered from 1, one at a time and in order, each until the server accepts it:
nothing is dropped when the server is away or answers 503. While nothing
happens it sends an empty batch every ``HEARTBEAT_SECONDS``, the job's heartbeat.

The server's answer can cancel the job (``{cancel: true}``) or end the attempt
(409: the worker was declared lost): then the job is cancelled and nothing more
is sent. ``finish`` sends what is left with the outcome, until accepted.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from typing import Any

from conveyor.engine.events import Event
from conveyor.engine.plan import JobOutcome
from conveyor.executors.base import Cancellation
from conveyor.server.dispatch.protocol import HEARTBEAT_SECONDS, job_path
from conveyor.worker.client import Answer, GaveUp, ServerClient

logger = logging.getLogger("conveyor.worker")

BATCH_SECONDS = 0.15
BATCH_BYTES = 64 * 1024


class AttemptOver(Exception):
    """The server no longer takes this attempt's reports (409, or a refusal)."""


class EventChannel:
    """The events of one dispatch (one attempt at one job), sent in order."""

    def __init__(
        self,
        client: ServerClient,
        dispatch_id: int,
        job_token: str,
        cancellation: Cancellation,
        *,
        batch_seconds: float = BATCH_SECONDS,
        batch_bytes: int = BATCH_BYTES,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.client = client
        self.dispatch_id = dispatch_id
        self.job_token = job_token
        self.cancellation = cancellation
        self.batch_seconds = batch_seconds
        self.batch_bytes = batch_bytes
        self.heartbeat_seconds = heartbeat_seconds
        self._pending: deque[tuple[dict[str, Any], int]] = deque()  # events, their sizes
        self._pending_bytes = 0
        self._oldest_at: float | None = None  # when the oldest waiting event came
        self._last_sent_at = time.monotonic()
        self._next_seq = 1
        self._closing = False
        self._abandoned = False
        self._over: str | None = None  # why the server ended the attempt
        self._wake = threading.Condition()
        self._thread = threading.Thread(
            target=self._send_loop, name=f"conveyor-events-{dispatch_id}", daemon=True
        )

    @property
    def over(self) -> str | None:
        """Why the attempt is over (the server's detail), or None while it is not."""
        return self._over

    def start(self) -> EventChannel:
        self._thread.start()
        return self

    def emit(self, event: Event) -> None:
        """Queue ``event`` (the engine's ``emit``); never blocks on the network."""
        data = event.to_json()
        size = len(json.dumps(data))
        with self._wake:
            if self._over is not None:
                return  # the server takes nothing more from this attempt
            self._pending.append((data, size))
            self._pending_bytes += size
            if self._oldest_at is None:
                self._oldest_at = time.monotonic()
            if self._pending_bytes >= self.batch_bytes:
                self._wake.notify()

    def _next_batch(self) -> list[dict[str, Any]] | None:
        """Wait until a batch is due; the events to send (maybe none: a heartbeat), or
        None when the channel closes (what is left goes with ``finish``)."""
        with self._wake:
            while True:
                if self._closing or self._over is not None:
                    return None
                now = time.monotonic()
                if self._pending and (
                    self._pending_bytes >= self.batch_bytes
                    or now - (self._oldest_at or now) >= self.batch_seconds
                ):
                    return self._take()
                if now - self._last_sent_at >= self.heartbeat_seconds:
                    return self._take()
                if self._pending:
                    due = (self._oldest_at or now) + self.batch_seconds
                else:
                    due = self._last_sent_at + self.heartbeat_seconds
                self._wake.wait(max(0.0, due - now))

    def _take(self) -> list[dict[str, Any]]:
        """Up to ``batch_bytes`` of the waiting events (at least one, if any wait)."""
        taken: list[dict[str, Any]] = []
        size = 0
        while self._pending and (not taken or size < self.batch_bytes):
            event, event_size = self._pending.popleft()
            size += event_size
            taken.append(event)
        self._pending_bytes = max(0, self._pending_bytes - size)
        self._oldest_at = time.monotonic() if self._pending else None
        return taken

    def _send_loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            seq = self._next_seq
            try:
                # Sent until answered even when the job ends meanwhile: the server may
                # have stored it already (an answer lost on the way), so this seq must
                # never be sent again with other events (see `finish`).
                answer = self._post("events", {"seq": seq, "events": batch})
            except GaveUp:
                return  # abandoned
            self._next_seq = seq + 1
            self._last_sent_at = time.monotonic()
            took = self._handle(answer)
            if took and isinstance(answer.body, dict) and answer.body.get("cancel"):
                self.cancellation.cancel()

    def _post(self, action: str, body: dict[str, Any]) -> Answer:
        return self.client.send_until_answered(
            "POST",
            job_path(self.dispatch_id, action),
            body,
            job_token=self.job_token,
            stop=self._stopped_retrying,
        )

    def _stopped_retrying(self) -> bool:
        return self._abandoned

    def _handle(self, answer: Answer) -> bool:
        """True when the server took the batch; else the attempt is over: cancel the job."""
        if answer.ok:
            return True
        if answer.status == 409:
            reason = answer.detail()
            logger.warning(
                "dispatch %s: the server ended this attempt: %s", self.dispatch_id, reason
            )
        else:
            # A refusal that sending again cannot change (a bad token, an unknown job).
            reason = f"the server refused the job's report: {answer.detail()}"
            logger.error("dispatch %s: %s", self.dispatch_id, reason)
        with self._wake:
            self._over = reason
            self._pending.clear()
            self._pending_bytes = 0
            self._wake.notify_all()
        self.cancellation.cancel()
        return False

    def finish(self, outcome: JobOutcome) -> None:
        """Stop the sender and send what is left with ``outcome``, until accepted.

        Raises AttemptOver when the server does not take it (the attempt was over)."""
        with self._wake:
            self._closing = True
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        while self._over is None and self._pending_bytes > self.batch_bytes:
            # What piled up while the server was away goes in batches of the usual size.
            with self._wake:
                batch = self._take()
            answer = self._post("events", {"seq": self._next_seq, "events": batch})
            self._next_seq += 1
            self._handle(answer)
        if self._over is not None:
            raise AttemptOver(self._over)
        with self._wake:
            events = [event for event, _ in self._pending]
            self._pending.clear()
            self._pending_bytes = 0
        body = {"seq": self._next_seq, "events": events, "outcome": outcome.to_json()}
        answer = self.client.send_until_answered(
            "POST", job_path(self.dispatch_id, "finish"), body, job_token=self.job_token
        )
        if not self._handle(answer):
            raise AttemptOver(self._over or answer.detail())
        self._next_seq += 1

    def abandon(self) -> None:
        """Stop sending, retries included (the worker cannot report this job at all)."""
        with self._wake:
            self._abandoned = True
            self._closing = True
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join()
