"""A small HTTP client for the worker protocol, on ``urllib.request``.

Every request carries the workers' token; requests about one job carry the
attempt's token too. ``send`` answers with what the server said, whatever the
status; ``send_until_answered`` retries what the protocol says to retry (the
server unreachable, 503 "not now", a proxy's 502/504) with a growing pause, so a
worker keeps what it could not send and sends it again.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from conveyor.records import record
from conveyor.server.dispatch.protocol import JOB_TOKEN_HEADER

logger = logging.getLogger("conveyor.worker")

REQUEST_TIMEOUT = 30.0  # seconds; artifacts and big batches take a while on slow links
# Answers that mean "send the same again later".
RETRY_STATUSES = frozenset({429, 502, 503, 504})
FIRST_PAUSE = 0.2
LONGEST_PAUSE = 5.0


class ServerUnreachable(Exception):
    """No answer from the server (refused, reset, timed out, a name that does not resolve)."""


class GaveUp(Exception):
    """``send_until_answered`` stopped retrying because its caller said to stop."""


@record
class Answer:
    status: int
    body: Any  # the JSON answer, or None when there was none (or it was not JSON)
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def detail(self) -> str:
        """What the server said went wrong, for a message."""
        if isinstance(self.body, dict):
            for key in ("detail", "reason", "waiting"):
                if isinstance(self.body.get(key), str):
                    return self.body[key]
        return f"HTTP {self.status}"


class ServerClient:
    """Requests to one server with the workers' token."""

    def __init__(self, server_url: str, worker_token: str, timeout: float = REQUEST_TIMEOUT):
        self.server_url = server_url.rstrip("/")
        self._worker_token = worker_token
        self.timeout = timeout

    def headers(self, job_token: str | None = None) -> dict[str, str]:
        """The protocol's headers: the workers' token, and the attempt's when given."""
        headers = {"Authorization": f"Bearer {self._worker_token}"}
        if job_token is not None:
            headers[JOB_TOKEN_HEADER] = job_token
        return headers

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        job_token: str | None = None,
        upload: Path | None = None,
    ) -> Answer:
        """One request; ``body`` goes as JSON, the file ``upload`` as raw bytes (streamed,
        never read into memory whole). Raises ServerUnreachable."""
        headers = self.headers(job_token)
        headers["Accept"] = "application/json"
        with ExitStack() as closing:
            data: Any = None
            if upload is not None:
                data = closing.enter_context(open(upload, "rb"))
                headers["Content-Type"] = "application/octet-stream"
                headers["Content-Length"] = str(os.fstat(data.fileno()).st_size)
            elif body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            request = urllib.request.Request(
                self.server_url + path, data=data, headers=headers, method=method
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return _answer(response.status, response.read(), response.headers)
            except urllib.error.HTTPError as error:
                with error:
                    return _answer(error.code, error.read(), error.headers)
            except (urllib.error.URLError, OSError, ValueError) as error:
                # ValueError: http.client's answer to a garbled response line.
                reason = getattr(error, "reason", None) or error
                raise ServerUnreachable(f"{self.server_url}: {reason}") from None

    def send_until_answered(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        job_token: str | None = None,
        upload: Path | None = None,
        stop: Callable[[], bool] | None = None,
        pause: Callable[[float], Any] = time.sleep,
    ) -> Answer:
        """``send`` again (growing pauses, ``Retry-After`` obeyed) until the answer is
        neither "unreachable" nor "not now". Raises GaveUp once ``stop()`` is true."""
        wait = FIRST_PAUSE
        complained = False
        while True:
            try:
                answer = self.send(method, path, body, job_token=job_token, upload=upload)
                if answer.status not in RETRY_STATUSES:
                    if complained:
                        logger.info("%s %s: the server answers again", method, path)
                    return answer
                problem = f"HTTP {answer.status}"
                delay = min(answer.retry_after or wait, LONGEST_PAUSE)
            except ServerUnreachable as error:
                problem = str(error)
                delay = wait
            if not complained:
                logger.warning("%s %s: %s; trying again", method, path, problem)
                complained = True
            if stop is not None and stop():
                raise GaveUp(problem)
            pause(delay)
            wait = min(wait * 2, LONGEST_PAUSE)


def _answer(status: int, raw: bytes, headers: Any) -> Answer:
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    retry_after = None
    text = headers.get("Retry-After") if headers is not None else None
    if text:
        try:
            retry_after = max(0.0, float(text))
        except ValueError:
            retry_after = None  # an HTTP date: the usual pause will do
    return Answer(status, body, retry_after)
