"""What the monitoring tests share: a real HTTP app on 127.0.0.1 whose health a test
flips, a watch thread with short intervals, and deployments as a deploy step reports
them (through ``signals.deployment_changed``, as the run's sink sends it)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from conveyor.engine.events import DeploymentChanged
from conveyor.server.monitoring.watch import HealthWatch, stop_health_watch
from conveyor.server.runs import signals
from conveyor.server.runs.models import Deployment
from tests.server.test_environments_ui import make_run


class FlippingApp:
    """An HTTP server answering ``GET /healthz`` with ``status`` (200 until flipped) and
    remembering each request's Host header."""

    def __init__(self) -> None:
        self.status = 200
        self.body = "ok"
        self.hosts: list[str] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                app.hosts.append(self.headers.get("Host", ""))
                payload = app.body.encode()
                self.send_response(app.status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.url = f"http://{self.address}/healthz"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def flip(self, status: int, body: str) -> None:
        self.status, self.body = status, body

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def app() -> Iterator[FlippingApp]:
    served = FlippingApp()
    yield served
    served.stop()


@pytest.fixture
def start_watch() -> Iterator[Any]:
    """Start a HealthWatch thread with the given intervals (seconds); stopped after."""
    started: list[HealthWatch] = []

    def start(
        interval: float = 0.05,
        close_interval: float = 0.05,
        close_minutes: float = 10,
        timeout: float = 2,
    ) -> HealthWatch:
        from conveyor.server.monitoring import watch as module

        watch = HealthWatch(interval, close_interval, close_minutes, timeout)
        module._running = watch  # as start_health_watch() makes it: the listener wakes it
        watch.start()
        started.append(watch)
        return watch

    yield start
    for watch in started:
        stop_health_watch(watch)


@pytest.fixture
def incident_signals() -> Iterator[list[tuple[int, bool]]]:
    """(incident id, open) for each incident_changed sent."""
    heard: list[tuple[int, bool]] = []

    def listen(sender: Any, incident: Any, **kwargs: Any) -> None:
        heard.append((incident.pk, incident.resolved_at is None))

    signals.incident_changed.connect(listen, weak=False, dispatch_uid="test-incidents")
    yield heard
    signals.incident_changed.disconnect(dispatch_uid="test-incidents")


def went_live(
    environment: Any,
    number: int,
    target: str,
    bind: str,
    release: str,
    health_path: str = "/healthz",
    health_host: str = "",
) -> Deployment:
    """A deploy step's deployment that reached ``live`` (and ended), told as the sink
    tells it: the row updated, then ``deployment_changed`` with the event."""
    from django.utils import timezone

    run = make_run(environment.repository, number, "success")
    now = timezone.now()
    deployment = Deployment.objects.create(
        run=run,
        job_key="deploy",
        environment=environment,
        status="success",
        state="live",
        target=target,
        release=release,
        url=f"http://{bind}",
        sha=run.sha,
        triggered_by="dora",
        started_at=now,
        finished_at=now,
    )
    event = DeploymentChanged(
        job_key="deploy",
        step=2,
        state="live",
        target=target,
        release=release,
        url=f"http://{bind}",
        health_path=health_path,
        health_host=health_host,
    )
    signals.tell(signals.deployment_changed, deployment=deployment, event=event)
    return deployment
