"""The deploy proxy's daemon: owns ``bind``, forwards to the current upstream, obeys control.

Started by ``ensure_proxy`` as ``python -m conveyor.deploy.proxy --state-dir D --bind B``.
The process binds both sockets first (so a port in use fails the start with a clear
message), then forks: the parent writes the child's pid file and exits 0, which
tells ``ensure_proxy`` the proxy listens; the child, reparented away from whoever
started it, serves until told to stop (control ``stop`` or SIGTERM).

Files in the state directory (mode 0700):

- ``proxy.sock``: the control socket, 0600; JSON lines, one answer per request line:
  ``{"op": "status"}``, ``{"op": "switch", "upstream": "127.0.0.1:9001",
  "drain_seconds": 30}``, ``{"op": "stop"}``. A peer of another uid is refused
  (SO_PEERCRED), even if the modes were loosened.
- ``proxy.pid``, ``proxy.log`` (starts, switches, stops and errors; not every request),
- ``proxy-state.json``: ``{"upstream": ..., "bind": ...}``, written before a switch is
  acknowledged (temp file, then rename), read at start so a restarted proxy serves the
  same upstream.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Iterator

from conveyor.deploy import proxy_http
from conveyor.deploy.proxy_http import BadMessage, Client, Head, UpstreamFailed

SOCKET_NAME = "proxy.sock"
PID_NAME = "proxy.pid"
LOG_NAME = "proxy.log"
STATE_NAME = "proxy-state.json"
KEEP_ALIVE_IDLE = 75.0  # seconds a client connection may sit between requests
CONNECT_TIMEOUT = 5.0
STOP_GRACE = 30.0  # in-flight requests get this long to finish when the proxy stops


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) → (host, port); ValueError saying what is wrong."""
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a host:port address: {text!r}")
    return host.strip("[]"), int(port)


@contextlib.contextmanager
def reachable_socket_path(path: str) -> Iterator[str]:
    """``path``, or for one too long for a Unix socket address (108 bytes) the same file
    reached through an open descriptor of its directory, ``/proc/self/fd/N/NAME``."""
    if len(os.fsencode(path)) < 100:
        yield path
        return
    directory = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{directory}/{os.path.basename(path)}"
    finally:
        os.close(directory)


def read_state(state_dir: str) -> dict:
    try:
        with open(os.path.join(state_dir, STATE_NAME)) as file:
            state = json.load(file)
    except FileNotFoundError:
        return {}
    return state if isinstance(state, dict) else {}


def write_state(state_dir: str, state: dict) -> None:
    path = os.path.join(state_dir, STATE_NAME)
    temp = f"{path}.{os.getpid()}.tmp"
    with open(temp, "w") as file:
        json.dump(state, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)


def log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f"{stamp} {message}", flush=True)


class Proxy:
    """The running proxy: which upstream is current, and how many requests each one holds."""

    def __init__(self, state_dir: str, bind: str, upstream: str | None) -> None:
        self.state_dir = state_dir
        self.bind = bind
        self.upstream = upstream
        self.in_flight: dict[str, int] = {}
        self._drained = asyncio.Condition()
        self._idle_writers: set[asyncio.StreamWriter] = set()
        self.stopping = asyncio.Event()
        # Set when a stop begins: keep-alive connections end after their current request.
        self.closing = False

    # -- traffic ---------------------------------------------------------------

    async def serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # asyncio sets TCP_NODELAY only on sockets whose proto says TCP, which sockets
        # accepted from socket.create_server's do not: without it, a response's head and
        # body as two writes wait 40 ms for the client's delayed ACK.
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = writer.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) else "unknown"
        trusted = address.startswith("127.") or address == "::1"
        client = Client(reader, writer, address, trusted, stopping=lambda: self.closing)
        try:
            while not self.closing:
                self._idle_writers.add(writer)
                try:
                    async with asyncio.timeout(KEEP_ALIVE_IDLE):
                        raw = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    writer.write(proxy_http.simple_response(431, "request head too large", True))
                    break
                except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
                    break
                finally:
                    self._idle_writers.discard(writer)
                if not await self.serve_request(raw, client):
                    break
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def serve_request(self, raw: bytes, client: Client) -> bool:
        try:
            request = parse_request(raw)
        except BadMessage as error:
            client.writer.write(proxy_http.simple_response(error.status, str(error), True))
            return False
        upstream = self.upstream
        if upstream is None:
            client.writer.write(
                proxy_http.simple_response(503, "no app server is live yet", close=True)
            )
            return False
        # Counted before the first await: a switch that starts now waits for this request.
        self.in_flight[upstream] = self.in_flight.get(upstream, 0) + 1
        try:
            return await proxy_http.forward(request, client, upstream, CONNECT_TIMEOUT)
        except UpstreamFailed as error:
            log(f"502 for {request.first[0]} {request.first[1][:200]}: {error}")
            # The detail names internal addresses: it goes to the log, not to the client.
            client.writer.write(
                proxy_http.simple_response(502, "the app server did not answer", close=True)
            )
            return False
        except BadMessage as error:
            client.writer.write(proxy_http.simple_response(error.status, str(error), True))
            return False
        except (ConnectionError, asyncio.IncompleteReadError):
            return False
        finally:
            self.in_flight[upstream] -= 1
            if not self.in_flight[upstream]:
                del self.in_flight[upstream]
                async with self._drained:
                    self._drained.notify_all()

    async def wait_drained(self, upstream: str | None, timeout: float) -> bool:
        """Wait until ``upstream`` (None: every upstream) holds no request; False on timeout."""

        def drained() -> bool:
            return not self.in_flight if upstream is None else upstream not in self.in_flight

        async with self._drained:
            try:
                await asyncio.wait_for(self._drained.wait_for(drained), timeout)
            except TimeoutError:
                return False
        return True

    # -- control ---------------------------------------------------------------

    async def serve_control(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            if not _peer_is_owner(writer):
                writer.write(b'{"ok": false, "error": "only the proxy\'s owner may control it"}\n')
                return
            while line := await reader.readline():
                try:
                    answer = await self.control(json.loads(line))
                except (ValueError, KeyError, TypeError) as error:
                    answer = {"ok": False, "error": f"bad control request: {error}"}
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
                if answer.get("stopped"):
                    self.stopping.set()
                    return
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def control(self, request: dict) -> dict:
        op = request["op"]
        if op == "status":
            return {
                "ok": True,
                "pid": os.getpid(),
                "bind": self.bind,
                "upstream": self.upstream,
                "in_flight": dict(self.in_flight),
            }
        if op == "switch":
            return await self.switch(
                str(request["upstream"]), float(request.get("drain_seconds", 30.0))
            )
        if op == "stop":
            drained = await self.begin_stop()
            return {"ok": True, "stopped": True, "drained": drained}
        return {"ok": False, "error": f"unknown op {op!r}"}

    async def switch(self, upstream: str, drain_seconds: float) -> dict:
        parse_address(upstream)
        old = self.upstream
        if upstream != old:
            write_state(self.state_dir, {"upstream": upstream, "bind": self.bind})
            self.upstream = upstream
            log(f"switched {old} -> {upstream}")
        if old is None or old == upstream:
            return {"ok": True, "drained": True, "previous": old}
        drained = await self.wait_drained(old, drain_seconds)
        if not drained:
            log(f"{old} still had {self.in_flight.get(old, 0)} request(s) after {drain_seconds}s")
        return {
            "ok": True,
            "drained": drained,
            "previous": old,
            "in_flight": self.in_flight.get(old, 0),
        }

    async def begin_stop(self) -> bool:
        """Stop taking connections, close idle ones, and let in-flight requests finish (bounded)."""
        self.closing = True
        for server in self.servers:
            server.close()
        for writer in list(self._idle_writers):
            writer.close()
        drained = await self.wait_drained(None, STOP_GRACE)
        log(f"stopping ({'drained' if drained else 'in-flight requests cut'})")
        return drained

    async def run(self, listener: socket.socket, control: socket.socket) -> None:
        self.servers = [
            await asyncio.start_server(
                self.serve_client, sock=listener, limit=proxy_http.HEAD_LIMIT
            ),
            await asyncio.start_unix_server(self.serve_control, sock=control),
        ]
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(self._on_sigterm()))
        loop.add_signal_handler(signal.SIGINT, lambda: asyncio.ensure_future(self._on_sigterm()))
        log(f"listening on {self.bind}, upstream {self.upstream}")
        await self.stopping.wait()

    async def _on_sigterm(self) -> None:
        await self.begin_stop()
        self.stopping.set()


def parse_request(raw: bytes) -> Head:
    request = proxy_http.parse_head(raw)
    if request.first[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadMessage(400, f"unsupported protocol {request.first[2][:20]!r}")
    return request


def _peer_is_owner(writer: asyncio.StreamWriter) -> bool:
    sock = writer.get_extra_info("socket")
    credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return uid == os.getuid()


def bind_sockets(state_dir: str, bind: str) -> tuple[socket.socket, socket.socket]:
    host, port = parse_address(bind)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listener = socket.create_server((host, port), family=family, backlog=1024, reuse_port=False)
    except OSError as error:
        raise SystemExit(f"conveyor proxy: cannot listen on {bind}: {error.strerror}") from error
    path = os.path.join(state_dir, SOCKET_NAME)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # stale: ensure_proxy found nothing answering on it
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        with reachable_socket_path(path) as address:
            control.bind(address)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    control.listen(64)
    return listener, control


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conveyor.deploy.proxy")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--foreground", action="store_true", help="do not fork (for debugging)")
    options = parser.parse_args(argv)
    state_dir = os.path.abspath(options.state_dir)
    listener, control = bind_sockets(state_dir, options.bind)
    pid_path = os.path.join(state_dir, PID_NAME)
    if not options.foreground:
        child = os.fork()
        if child:
            _write_pid(pid_path, child)
            os._exit(0)
        _detach_output(os.path.join(state_dir, LOG_NAME))
    else:
        _write_pid(pid_path, os.getpid())
    state = read_state(state_dir)
    proxy = Proxy(state_dir, options.bind, state.get("upstream"))
    try:
        asyncio.run(proxy.run(listener, control))
    finally:
        for name in (SOCKET_NAME, PID_NAME):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(state_dir, name))
        log("stopped")
    return 0


def _write_pid(path: str, pid: int) -> None:
    temp = f"{path}.tmp"
    with open(temp, "w") as file:
        file.write(f"{pid}\n")
    os.replace(temp, path)


def _detach_output(log_path: str) -> None:
    """Point stdio away from the starter's pipes: a holder of a step's pipe is killed with it."""
    null = os.open(os.devnull, os.O_RDONLY)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(null, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(null)
    os.close(log_fd)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - lives as long as the process
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
