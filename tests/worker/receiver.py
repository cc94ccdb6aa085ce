"""A small, real HTTP server on 127.0.0.1 that speaks the server's side of the worker
protocol (``conveyor.server.dispatch.protocol``) and records what a worker sends.

It stands in for the scaled-out server until both sides are merged: it checks the
two tokens as the protocol says, numbers and deduplicates event batches, serves a
real repository over git's smart HTTP (``git http-backend``) at the job's git URL,
and can be told to answer 503 (or to be unreachable) for a while.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import urllib.parse
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from conveyor.server.dispatch.protocol import HEARTBEAT_PATH, JOB_TOKEN_HEADER, job_path

WORKER_TOKEN = "worker-secret-token"
_JOB = re.compile(r"^/api/worker/jobs/(\d+)/(.+)$")


@dataclass
class Dispatch:
    token: str
    plan: dict[str, Any]
    repository: str  # the name the server gives it
    repo_dir: Path | None = None  # the repository served at the job's git URL
    claimed_by: str | None = None
    batches: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    seqs_received: list[int] = field(default_factory=list)  # duplicates included
    finished: dict[str, Any] | None = None
    artifacts: dict[str, bytes] = field(default_factory=dict)
    environment_asks: list[dict[str, Any]] = field(default_factory=list)
    releases: list[dict[str, Any]] = field(default_factory=list)
    cancel: bool = False  # answer {cancel: true} to its events
    lost: bool = False  # answer 409 to its events (the worker was declared lost)

    def events(self) -> list[dict[str, Any]]:
        """Every stored event in seq order, the finish's last batch included."""
        found = [event for seq in sorted(self.batches) for event in self.batches[seq]]
        return found


class Receiver:
    def __init__(self) -> None:
        self.dispatches: dict[int, Dispatch] = {}
        self.heartbeats: list[dict[str, Any]] = []
        self.queues: list[str] = []
        self.cancel_ids: list[int] = []
        # (dispatch id or None, action) -> statuses to answer before the real answer
        self.refusals: dict[tuple[int | None, str], deque[int]] = defaultdict(deque)
        # environment answers per dispatch: (status, body), the real grant after them
        self.environment_answers: dict[int, deque[tuple[int, dict[str, Any]]]] = defaultdict(deque)
        self.git_requests: list[dict[str, Any]] = []
        self.lock = threading.RLock()
        self.url = ""

    def add(self, dispatch_id: int, dispatch: Dispatch) -> None:
        with self.lock:
            self.dispatches[dispatch_id] = dispatch

    def git_url(self, dispatch_id: int) -> str:
        return self.url + job_path(dispatch_id, "git")

    def refuse(self, dispatch_id: int | None, action: str, *statuses: int) -> None:
        with self.lock:
            self.refusals[(dispatch_id, action)].extend(statuses)

    # -- the protocol --------------------------------------------------------------

    def handle(self, request: _Handler, method: str) -> None:
        path = urllib.parse.urlsplit(request.path).path
        if request.headers.get("Authorization") != f"Bearer {WORKER_TOKEN}":
            request.answer(401, {"detail": "not a worker"})
            return
        if path == HEARTBEAT_PATH and method == "POST":
            body = request.json()
            with self.lock:
                self.heartbeats.append(body)
                answer = {"queues": list(self.queues), "cancel": list(self.cancel_ids)}
            request.answer(200, answer)
            return
        matched = _JOB.match(path)
        if matched is None:
            request.answer(404, {"detail": "no such path"})
            return
        dispatch_id, action = int(matched.group(1)), matched.group(2)
        with self.lock:
            dispatch = self.dispatches.get(dispatch_id)
        if dispatch is None:
            request.answer(404, {"detail": "no such dispatch"})
            return
        if request.headers.get(JOB_TOKEN_HEADER) != dispatch.token:
            request.answer(403, {"detail": "not this job's token"})
            return
        if action.startswith("git/"):
            self._git(request, method, dispatch, action.removeprefix("git"))
            return
        kind = "artifacts" if action.startswith("artifacts/") else action
        with self.lock:
            waiting = self.refusals.get((dispatch_id, kind))
            refusal = waiting.popleft() if waiting else None
        if refusal is not None:
            request.read_body()
            request.answer(refusal, {"detail": "not now"}, retry_after="0")
            return
        getattr(self, "_" + kind.replace("/", "_"))(request, dispatch_id, dispatch, action)

    def _claim(self, request: _Handler, dispatch_id: int, dispatch: Dispatch, action: str) -> None:
        worker = request.json()["worker"]
        with self.lock:
            if dispatch.claimed_by is not None:
                request.answer(409, {"detail": f"claimed by {dispatch.claimed_by}"})
                return
            dispatch.claimed_by = worker
        request.answer(
            200,
            {
                "plan": dispatch.plan,
                "git_url": self.git_url(dispatch_id),
                "repository": dispatch.repository,
            },
        )

    def _store(self, dispatch: Dispatch, body: dict[str, Any]) -> None:
        seq = body["seq"]
        assert isinstance(seq, int) and seq >= 1, body
        dispatch.seqs_received.append(seq)
        if seq not in dispatch.batches:  # a batch stored already is accepted and ignored
            dispatch.batches[seq] = list(body["events"])

    def _events(self, request: _Handler, dispatch_id: int, dispatch: Dispatch, action: str) -> None:
        body = request.json()
        with self.lock:
            if dispatch.lost:
                request.answer(409, {"detail": "worker lost"})
                return
            self._store(dispatch, body)
            request.answer(200, {"cancel": dispatch.cancel})

    def _finish(self, request: _Handler, dispatch_id: int, dispatch: Dispatch, action: str) -> None:
        body = request.json()
        with self.lock:
            if dispatch.lost:
                request.answer(409, {"detail": "worker lost"})
                return
            self._store(dispatch, body)
            dispatch.finished = body["outcome"]
        request.answer(200, {})

    def _artifacts(
        self, request: _Handler, dispatch_id: int, dispatch: Dispatch, action: str
    ) -> None:
        name = urllib.parse.unquote(action.removeprefix("artifacts/"))
        with self.lock:
            dispatch.artifacts[name] = request.read_body()
        request.answer(200, {})

    def _environment(
        self, request: _Handler, dispatch_id: int, dispatch: Dispatch, action: str
    ) -> None:
        with self.lock:
            dispatch.environment_asks.append(request.json())
            waiting = self.environment_answers.get(dispatch_id)
            status, body = waiting.popleft() if waiting else (200, {"secrets": {}, "variables": {}})
        request.answer(status, body)

    def _environment_release(
        self, request: _Handler, dispatch_id: int, dispatch: Dispatch, action: str
    ) -> None:
        with self.lock:
            dispatch.releases.append(request.json())
        request.answer(200, {})

    def _git(self, request: _Handler, method: str, dispatch: Dispatch, rest: str) -> None:
        """Smart HTTP through ``git http-backend`` (CGI) for the dispatch's repository."""
        assert dispatch.repo_dir is not None
        query = urllib.parse.urlsplit(request.path).query
        body = request.read_body()
        with self.lock:
            self.git_requests.append({"method": method, "path": rest})
        env = {
            "PATH": "/usr/bin:/bin",
            "GIT_PROJECT_ROOT": str(dispatch.repo_dir.parent),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{dispatch.repo_dir.name}{rest}",
            "QUERY_STRING": query,
            "REQUEST_METHOD": method,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "safe.directory",
            "GIT_CONFIG_VALUE_0": "*",
        }
        for header, variable in (
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
            ("Git-Protocol", "GIT_PROTOCOL"),
        ):
            if request.headers.get(header):
                env[variable] = request.headers[header]
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        request.send_response(status)
        for name, value in headers:
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def read_body(self) -> bytes:
        if getattr(self, "_body", None) is None:
            length = int(self.headers.get("Content-Length") or 0)
            self._body = self.rfile.read(length) if length else b""
        return self._body

    def json(self) -> Any:
        return json.loads(self.read_body() or b"null")

    def answer(self, status: int, body: Any, retry_after: str | None = None) -> None:
        self.read_body()
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._body = None
        self.receiver.handle(self, "GET")

    def do_POST(self) -> None:
        self._body = None
        self.receiver.handle(self, "POST")

    def do_PUT(self) -> None:
        self._body = None
        self.receiver.handle(self, "PUT")


@contextmanager
def serving(receiver: Receiver | None = None, port: int = 0) -> Iterator[Receiver]:
    """``receiver`` (a new one by default) listening on 127.0.0.1 until the block ends."""
    receiver = receiver or Receiver()
    handler = type("Handler", (_Handler,), {"receiver": receiver})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
