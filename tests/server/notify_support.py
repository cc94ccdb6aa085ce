"""Helpers (no tests) for the notification tests: a real SMTP server (aiosmtpd) and real
HTTP receivers on 127.0.0.1, and the delivery thread as the server starts it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.server.conftest import free_port, wait_for


class Mailbox:
    """What the SMTP server received: one parsed message per DATA."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.recipients: list[list[str]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.original_content))
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def subjects(self) -> list[str]:
        with self.lock:
            return [str(message["Subject"]) for message in self.messages]


@pytest.fixture
def mailbox(settings: Any) -> Iterator[Mailbox]:
    """A real SMTP server on 127.0.0.1 that the server's SMTP backend sends to."""
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.DEFAULT_FROM_EMAIL = "conveyor@ci.example"
    yield box
    controller.stop()


class Received:
    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """An HTTP server recording every request; it answers with the next status of
    ``answers`` (then 200 for ever), or what ``check`` says of the request."""

    def __init__(
        self,
        answers: list[int] | None = None,
        check: Callable[[Received], tuple[int, bytes]] | None = None,
    ) -> None:
        self.requests: list[Received] = []
        self.answers = list(answers or [])
        self.check = check
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                received = Received("POST", self.path, dict(self.headers.items()), body)
                with receiver.lock:
                    receiver.requests.append(received)
                    status = receiver.answers.pop(0) if receiver.answers else 200
                reply = b'{"ok": true}' if status < 400 else b"receiver is down"
                if receiver.check is not None:
                    status, reply = receiver.check(received)
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def deliveries(transactional_db: None) -> Iterator[Any]:
    """The delivery thread, started and stopped as ``conveyor server`` does."""
    from conveyor.server.notifications.delivery import start_delivery, stop_delivery

    worker = start_delivery()
    yield worker
    stop_delivery(worker, timeout=15)


def wait_until_sent(count: int, what: str = "the deliveries") -> list[Any]:
    """Wait until ``count`` deliveries are sent (and none is still pending)."""
    from conveyor.server.notifications.models import Outbound

    def done() -> list[Any] | None:
        rows = list(Outbound.objects.order_by("pk"))
        sent = [row for row in rows if row.status == "sent"]
        pending = [row for row in rows if row.status == "pending"]
        return rows if len(sent) >= count and not pending else None

    return wait_for(done, 30, what)
