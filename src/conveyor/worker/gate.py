"""A job's ``environment:`` gate, asked of the server (``engine/environments.py``).

The server keeps the protection rules and hands out deployments one at a time;
the worker asks, waits while the server says "wait" (approval, another
deployment), and tells it when the job ends so the environment passes on.
"""

from __future__ import annotations

import logging
from typing import Any

from conveyor.engine.environments import EnvironmentGrant, EnvironmentRefused, EnvironmentRequest
from conveyor.engine.events import Status
from conveyor.server.dispatch.protocol import HEARTBEAT_SECONDS, job_path
from conveyor.worker.client import GaveUp, ServerClient

logger = logging.getLogger("conveyor.worker")

CANCELLED_REASON = "cancelled while waiting for the environment"


class RemoteEnvironmentGate:
    """An ``EnvironmentGate`` for one dispatch, on the server's ``.../environment``."""

    def __init__(
        self,
        client: ServerClient,
        dispatch_id: int,
        job_token: str,
        poll_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.client = client
        self.dispatch_id = dispatch_id
        self.job_token = job_token
        self.poll_seconds = poll_seconds

    def __call__(self, request: EnvironmentRequest) -> EnvironmentGrant:
        cancellation = request.cancellation
        body = {"name": request.name, "url": request.url}
        while True:
            try:
                answer = self.client.send_until_answered(
                    "POST",
                    job_path(self.dispatch_id, "environment"),
                    body,
                    job_token=self.job_token,
                    stop=lambda: cancellation.cancelled,
                    pause=cancellation.wait,
                )
            except GaveUp:
                raise EnvironmentRefused(CANCELLED_REASON, Status.CANCELLED) from None
            if answer.status == 200:
                given = answer.body if isinstance(answer.body, dict) else {}
                return EnvironmentGrant(
                    secrets=_strings(given.get("secrets")),
                    variables=_strings(given.get("variables")),
                    release=self._release,
                )
            if answer.status == 202:
                if cancellation.wait(self.poll_seconds):
                    raise EnvironmentRefused(CANCELLED_REASON, Status.CANCELLED)
                continue
            if answer.status == 403 and isinstance(answer.body, dict):
                raise EnvironmentRefused(
                    str(answer.body.get("reason") or "the environment refused the job"),
                    _status(answer.body.get("status")),
                )
            raise EnvironmentRefused(
                f"the server did not answer about environment {request.name}: {answer.detail()}"
            )

    def _release(self, status: Status, url: str) -> None:
        try:
            answer = self.client.send_until_answered(
                "POST",
                job_path(self.dispatch_id, "environment/release"),
                {"status": str(status), "url": url},
                job_token=self.job_token,
            )
        except GaveUp:  # pragma: no cover - no stop given: it never gives up
            return
        if not answer.ok:
            logger.warning(
                "dispatch %s: the environment's release was refused: %s",
                self.dispatch_id,
                answer.detail(),
            )


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(name): str(text) for name, text in value.items()}


def _status(value: Any) -> Status:
    try:
        return Status(value)
    except ValueError:
        return Status.FAILURE
