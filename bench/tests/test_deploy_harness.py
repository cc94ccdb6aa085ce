"""The deploy benchmark's load loop against a real HTTP server that is restarted, as the
rsync script restarts gunicorn: the gap is seen, counted and timed, and the new version's
first answer is found."""

from __future__ import annotations

import http.server
import threading
import time

from deploy import LoadLoop, free_port


class Version(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def serve(port: int, version: str) -> http.server.ThreadingHTTPServer:
    handler = type("Handler", (Version,), {"body": f"shop {version}\n".encode()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_restart_shows_as_failures_and_a_gap() -> None:
    port = free_port()
    first = serve(port, "v1")
    load = LoadLoop(port)
    try:
        time.sleep(0.3)
        started = time.perf_counter()
        first.shutdown()
        first.server_close()
        time.sleep(0.5)  # nothing listens: connections refused
        second = serve(port, "v2")
        time.sleep(0.3)
        ended = time.perf_counter()
    finally:
        load.stop()
    second.shutdown()
    second.server_close()
    answered, failed, gap = load.window(started, ended)
    assert failed > 0 and answered > failed
    assert gap >= 0.4  # the 0.5 s with nothing listening (less a request in flight)
    live = load.first("shop v2", started)
    assert live is not None and live - started >= 0.4
    assert load.first("shop v1", started - 0.3) is not None
    # Before the restart nothing failed.
    assert load.window(started - 0.25, started)[1] == 0
