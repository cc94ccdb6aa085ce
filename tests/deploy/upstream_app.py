"""A tiny app server that says its name: the upstreams the proxy tests and benchmark use.

``python upstream_app.py NAME`` listens on a free port of 127.0.0.1 and prints it.

- ``GET /`` and any other path: ``NAME``;
- ``GET /slow?seconds=S``: ``NAME`` after S seconds;
- ``GET /chunked?parts=N``: a chunked response, ``NAME:0\\n`` ... ``NAME:N-1\\n``;
- ``POST /echo``: JSON of name, method, path, headers and the body it received
  (Content-Length or chunked).
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "upstream-app"
    disable_nagle_algorithm = True  # head and body are written apart: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the benchmark sends thousands of requests

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/slow":
            time.sleep(float(query.get("seconds", ["1"])[0]))
        if url.path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for index in range(int(query.get("parts", ["3"])[0])):
                part = f"{NAME}:{index}\n".encode()
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return
        self.answer(NAME.encode(), "text/plain")

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        echo = {
            "name": NAME,
            "method": self.command,
            "path": self.path,
            "headers": dict(self.headers.items()),
            "body": body.decode(),
        }
        self.answer(json.dumps(echo).encode(), "application/json")

    def answer(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    NAME = sys.argv[1]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()
