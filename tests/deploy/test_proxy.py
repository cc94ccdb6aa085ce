"""The deploy proxy, for real: its daemon, real app servers on 127.0.0.1, real HTTP."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conveyor.deploy.proxy import ProxyClient, ProxyError, ensure_proxy, running_pid
from tests.deploy.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def connect(bind: str, timeout: float = 30.0) -> http.client.HTTPConnection:
    host, port = bind.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=timeout)


def get(bind: str, path: str = "/", headers: dict | None = None) -> tuple[int, bytes]:
    connection = connect(bind)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def raw_exchange(bind: str, data: bytes) -> bytes:
    host, port = bind.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


# -- starting ---------------------------------------------------------------------


def test_ensure_proxy_starts_once_and_is_idempotent(state_dir, bind) -> None:
    first = ensure_proxy(state_dir, bind)
    pid = first.status()["pid"]
    assert running_pid(state_dir) == pid
    second = ensure_proxy(state_dir, bind)
    assert second.status()["pid"] == pid
    assert second.status()["bind"] == bind
    assert first.upstream() is None
    with socket.create_connection(tuple_of(bind), timeout=5):
        pass  # it listens


def tuple_of(bind: str) -> tuple[str, int]:
    host, port = bind.rsplit(":", 1)
    return host, int(port)


def test_ensure_proxy_refuses_another_bind_for_the_same_state_dir(proxy, state_dir) -> None:
    other = f"127.0.0.1:{free_port()}"
    with pytest.raises(ProxyError, match="listens on .*, not " + other):
        ensure_proxy(state_dir, other)


def test_a_taken_bind_address_is_a_clear_error(state_dir) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(ProxyError, match=f"cannot listen on {bind}"):
            ensure_proxy(state_dir, bind)
    assert running_pid(state_dir) is None


def test_a_malformed_bind_is_a_clear_error(state_dir) -> None:
    with pytest.raises(ProxyError, match="not a host:port address: '8001'"):
        ensure_proxy(state_dir, "8001")


def test_the_daemon_escapes_the_job_that_starts_it(state_dir, bind) -> None:
    """New session, no pipe of the starter, no RUNNER_TRACKING_ID: what a job's cleanup finds."""
    starter = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from conveyor.deploy.proxy import ensure_proxy; "
            "ensure_proxy(sys.argv[1], sys.argv[2])",
            state_dir,
            bind,
        ],
        env={**os.environ, "RUNNER_TRACKING_ID": "job-42"},
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert starter.stdout == b""
    pid = running_pid(state_dir)
    assert pid is not None
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert not [v for v in environ if v.startswith(b"RUNNER_TRACKING_ID=")]
    assert os.getsid(pid) != os.getsid(0)
    assert os.getpgid(pid) != os.getpgid(0)
    for fd in (0, 1, 2):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        assert not target.startswith("pipe:"), (fd, target)
    assert os.readlink(f"/proc/{pid}/fd/1") == os.path.join(state_dir, "proxy.log")


# -- forwarding -------------------------------------------------------------------


def test_no_upstream_yet_answers_503(proxy, bind) -> None:
    status, body = get(bind)
    assert status == 503
    assert b"no app server" in body


def test_get_is_forwarded_to_the_upstream(proxy, bind, start_upstream) -> None:
    app = start_upstream("blue")
    proxy.switch(app.address)
    assert proxy.upstream() == app.address
    assert get(bind, "/any/path?x=1") == (200, b"blue")


def test_post_forwards_method_path_body_and_headers(proxy, bind, start_upstream) -> None:
    app = start_upstream("blue")
    proxy.switch(app.address)
    connection = connect(bind)
    connection.request(
        "POST",
        "/echo?q=1",
        body=b"name=shop&size=2",
        headers={
            "Host": "shop.example.com",
            "X-Custom": "kept",
            "X-Forwarded-For": "203.0.113.9",
            "Connection": "keep-alive, X-Hop",
            "X-Hop": "dropped",
        },
    )
    response = connection.getresponse()
    echo = json.loads(response.read())
    connection.close()
    assert response.status == 200
    assert echo["method"] == "POST"
    assert echo["path"] == "/echo?q=1"
    assert echo["body"] == "name=shop&size=2"
    headers = echo["headers"]
    assert headers["Host"] == "shop.example.com"  # Django's ALLOWED_HOSTS sees the user's host
    assert headers["X-Custom"] == "kept"
    assert headers["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Forwarded-Host"] == "shop.example.com"
    assert "X-Hop" not in headers  # named in Connection: hop-by-hop
    assert headers["Connection"] == "close"


def test_a_local_front_may_set_forwarded_proto(proxy, bind, start_upstream) -> None:
    """A TLS terminator on the same machine says https; the proxy keeps what it says."""
    app = start_upstream("blue")
    proxy.switch(app.address)
    connection = connect(bind)
    connection.request(
        "POST",
        "/echo",
        body=b"",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.io"},
    )
    echo = json.loads(connection.getresponse().read())
    connection.close()
    assert echo["headers"]["X-Forwarded-Proto"] == "https"
    assert echo["headers"]["X-Forwarded-Host"] == "shop.io"


def test_a_chunked_request_body_is_forwarded(proxy, bind, start_upstream) -> None:
    app = start_upstream("blue")
    proxy.switch(app.address)
    connection = connect(bind)
    connection.request(
        "POST", "/echo", body=iter([b"first,", b"second,", b"third"]), encode_chunked=True
    )
    echo = json.loads(connection.getresponse().read())
    connection.close()
    assert echo["headers"]["Transfer-Encoding"] == "chunked"
    assert echo["body"] == "first,second,third"


def test_a_chunked_response_is_streamed_back(proxy, bind, start_upstream) -> None:
    app = start_upstream("blue")
    proxy.switch(app.address)
    connection = connect(bind)
    connection.request("GET", "/chunked?parts=50")
    response = connection.getresponse()
    assert response.getheader("Transfer-Encoding") == "chunked"
    body = response.read()
    assert body == "".join(f"blue:{i}\n" for i in range(50)).encode()
    # The connection is still usable: the chunked body's end was found.
    connection.request("GET", "/")
    assert connection.getresponse().read() == b"blue"
    connection.close()


def test_expect_100_continue_is_answered(proxy, bind, start_upstream) -> None:
    app = start_upstream("blue")
    proxy.switch(app.address)
    answer = raw_exchange(
        bind,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n"
        b"Connection: close\r\n\r\nhello",
    )
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 ")
    assert b'"body": "hello"' in answer


def test_an_http_1_0_client_gets_its_answer_and_a_closed_connection(
    proxy, bind, start_upstream
) -> None:
    app = start_upstream("blue")
    proxy.switch(app.address)
    answer = raw_exchange(bind, b"GET /chunked?parts=2 HTTP/1.0\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Connection: close" in head
    assert b"chunked" not in head.lower()  # this upstream chunks even to 1.0: the proxy undoes it
    assert body == b"blue:0\nblue:1\n"


def test_keep_alive_requests_are_not_held_by_delayed_acks(proxy, bind, start_upstream) -> None:
    """Head and body leave as two writes: without TCP_NODELAY each answer waits ~40 ms."""
    app = start_upstream("blue")
    proxy.switch(app.address)
    connection = connect(bind)
    times = []
    for _ in range(15):
        started = time.monotonic()
        connection.request("GET", "/")
        assert connection.getresponse().read() == b"blue"
        times.append(time.monotonic() - started)
    connection.close()
    assert sorted(times)[len(times) // 2] < 0.025, times


def test_malformed_and_ambiguous_requests_get_400(proxy, bind, start_upstream) -> None:
    app = start_upstream("blue")
    proxy.switch(app.address)
    assert raw_exchange(bind, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    smuggling = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    assert raw_exchange(bind, smuggling).startswith(b"HTTP/1.1 400 ")


def test_an_upstream_that_is_down_answers_502(proxy, bind, start_upstream) -> None:
    app = start_upstream("blue")
    proxy.switch(app.address)
    app.kill()
    status, body = get(bind)
    assert status == 502
    assert str(app.port).encode() not in body  # internal addresses stay in the log
    log = Path(proxy.state_dir, "proxy.log").read_text()
    assert f"cannot connect to {app.address}" in log


# -- switching --------------------------------------------------------------------


def test_keep_alive_connections_follow_a_switch(proxy, bind, start_upstream) -> None:
    blue, green = start_upstream("blue"), start_upstream("green")
    proxy.switch(blue.address)
    connection = connect(bind)
    connection.request("GET", "/")
    assert connection.getresponse().read() == b"blue"
    first_socket = connection.sock
    proxy.switch(green.address)
    connection.request("GET", "/")
    assert connection.getresponse().read() == b"green"
    assert connection.sock is first_socket  # the same client connection, a new upstream
    connection.close()


def start_slow_request(bind: str, seconds: float) -> tuple[threading.Thread, list]:
    result: list = []

    def run() -> None:
        started = time.monotonic()
        result.append(get(bind, f"/slow?seconds={seconds}"))
        result.append(time.monotonic() - started)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def wait_in_flight(proxy: ProxyClient, upstream: str) -> None:
    deadline = time.monotonic() + 10
    while proxy.status()["in_flight"].get(upstream, 0) == 0:
        assert time.monotonic() < deadline, "the slow request never reached the upstream"
        time.sleep(0.01)


def test_switch_waits_for_the_old_upstreams_in_flight_request(proxy, bind, start_upstream) -> None:
    blue, green = start_upstream("blue"), start_upstream("green")
    proxy.switch(blue.address)
    thread, result = start_slow_request(bind, 1.5)
    wait_in_flight(proxy, blue.address)
    started = time.monotonic()
    proxy.switch(green.address, drain_seconds=20)
    waited = time.monotonic() - started
    assert get(bind) == (200, b"green")
    thread.join(10)
    assert result[0] == (200, b"blue")  # it finished on the old upstream
    assert 0.8 < waited < 10
    assert proxy.status()["in_flight"] == {}


def test_switch_waits_no_longer_than_drain_seconds(proxy, bind, start_upstream) -> None:
    blue, green = start_upstream("blue"), start_upstream("green")
    proxy.switch(blue.address)
    thread, result = start_slow_request(bind, 4)
    wait_in_flight(proxy, blue.address)
    started = time.monotonic()
    proxy.switch(green.address, drain_seconds=0.3)
    assert time.monotonic() - started < 2
    assert proxy.upstream() == green.address
    thread.join(15)
    assert result[0] == (200, b"blue")  # not cut: the old server still answered it


def test_switches_under_load_lose_no_request(proxy, bind, start_upstream) -> None:
    """Threads hammer the bind while the proxy switches 5 times, each old server then killed
    as soon as the switch returns: a request routed to it, or not drained, would fail."""
    current = start_upstream("v0")
    proxy.switch(current.address)
    failures: list[str] = []
    answers: list[tuple[float, bytes]] = []  # (time the request was sent, who answered)
    stop = threading.Event()

    def hammer(reuse: bool, path: str) -> None:
        connection = connect(bind, timeout=10)
        while not stop.is_set():
            sent = time.monotonic()
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
                if response.status != 200:
                    failures.append(f"{response.status} {body!r}")
                answers.append((sent, body))
            except (OSError, http.client.HTTPException) as error:
                failures.append(repr(error))
                connection.close()
            if not reuse:
                connection.close()
        connection.close()

    # Keep-alive and new connections; fast requests, and 50 ms ones that are in flight at
    # most switches, so the old server is killed right after its drain.
    threads = [
        threading.Thread(target=hammer, args=(reuse, path))
        for reuse in (True, False)
        for path in ("/", "/slow?seconds=0.05")
    ]
    for thread in threads:
        thread.start()
    switches: list[tuple[float, float, bytes]] = []  # (called, returned, new upstream's name)
    try:
        for version in range(1, 6):
            time.sleep(0.3)
            new = start_upstream(f"v{version}")
            called = time.monotonic()
            proxy.switch(new.address, drain_seconds=10)
            switches.append((called, time.monotonic(), new.name.encode()))
            current.kill()  # a request still routed to the old server would now fail
            current = new
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(20)
    assert failures == []
    assert len(answers) > 100
    # Every request sent after a switch returned was answered by the new upstream (or by a
    # newer one: a thread may be descheduled between taking the time and sending).
    for _, returned, name in switches:
        answered_by = {body for sent, body in answers if sent > returned}
        assert name in answered_by
        assert {int(body[1:]) for body in answered_by} >= {int(name[1:])}
        assert min(int(body[1:]) for body in answered_by) == int(name[1:])


# -- stopping and restarting --------------------------------------------------------


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for init to reap it does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_racing_starters_share_one_proxy(state_dir, bind) -> None:
    script = (
        "import sys; from conveyor.deploy.proxy import ensure_proxy; "
        "print(ensure_proxy(sys.argv[1], sys.argv[2]).status()['pid'])"
    )
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", script, state_dir, bind], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    pids = {starter.communicate(timeout=60)[0].strip() for starter in starters}
    assert pids == {str(running_pid(state_dir))}


def test_sigterm_stops_the_proxy_cleanly(proxy, state_dir, bind) -> None:
    pid = running_pid(state_dir)
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while process_alive(pid):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not os.path.exists(proxy.socket_path)
    assert running_pid(state_dir) is None
    assert "stopped" in Path(state_dir, "proxy.log").read_text()


def test_stop_lets_in_flight_requests_finish(proxy, bind, state_dir, start_upstream) -> None:
    blue = start_upstream("blue")
    proxy.switch(blue.address)
    pid = running_pid(state_dir)
    thread, result = start_slow_request(bind, 1)
    wait_in_flight(proxy, blue.address)
    proxy.stop()
    thread.join(10)
    assert result[0] == (200, b"blue")
    assert running_pid(state_dir) is None
    assert not process_alive(pid)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(tuple_of(bind), timeout=5).close()
    with pytest.raises(ProxyError, match="no proxy is running"):
        proxy.status()
    proxy.stop()  # stopping a stopped proxy is not an error


def test_a_state_dir_too_long_for_a_socket_address_works(tmp_path, bind) -> None:
    """Unix socket addresses stop at 108 bytes; deploy targets may live deeper."""
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "state"
    proxy = ensure_proxy(str(deep), bind)
    try:
        assert len(proxy.socket_path) > 108
        assert os.path.exists(proxy.socket_path)
        assert proxy.status()["bind"] == bind
        assert ensure_proxy(str(deep), bind).status()["pid"] == proxy.status()["pid"]
    finally:
        proxy.stop()
    assert running_pid(str(deep)) is None


def test_stop_answers_the_last_request_with_close_and_does_not_wait_for_idle_connections(
    proxy, bind, state_dir, start_upstream
) -> None:
    blue = start_upstream("blue")
    proxy.switch(blue.address)
    idle = connect(bind)
    idle.request("GET", "/")
    assert idle.getresponse().read() == b"blue"  # then left open, idle
    busy = connect(bind)
    result: list = []

    def slow() -> None:
        busy.request("GET", "/slow?seconds=1")
        response = busy.getresponse()
        result.append((response.read(), response.getheader("Connection")))

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        wait_in_flight(proxy, blue.address)
        started = time.monotonic()
        proxy.stop()
        assert time.monotonic() - started < 5  # the idle connection did not hold the stop
        thread.join(10)
        assert result == [(b"blue", "close")]
    finally:
        thread.join(10)
        idle.close()
        busy.close()


def test_a_restarted_proxy_serves_the_same_upstream(proxy, bind, state_dir, start_upstream):
    blue = start_upstream("blue")
    proxy.switch(blue.address)
    first_pid = running_pid(state_dir)
    proxy.stop()
    again = ensure_proxy(state_dir, bind)
    assert again.status()["pid"] != first_pid
    assert again.upstream() == blue.address
    assert get(bind) == (200, b"blue")


def test_a_bad_upstream_address_is_refused(proxy) -> None:
    with pytest.raises(ProxyError, match="not a host:port address"):
        proxy.switch("localhost")
    assert proxy.upstream() is None


# -- who may control it ---------------------------------------------------------------


def test_only_the_owner_can_reach_the_control_socket(proxy, state_dir) -> None:
    assert stat.S_IMODE(os.stat(state_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(proxy.socket_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.join(state_dir, "proxy.log")).st_mode) == 0o600


def as_nobody(script: str, *args: str) -> str:
    # The system's interpreter: the test's may sit in a directory nobody cannot enter.
    result = subprocess.run(
        ["/usr/bin/python3", "-c", script, *args],
        user="nobody",
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.skipif(
    os.getuid() != 0 or not os.path.exists("/usr/bin/python3"),
    reason="needs root and /usr/bin/python3 to act as another user",
)
def test_another_user_cannot_control_the_proxy(bind) -> None:
    reachable = tempfile.mkdtemp(prefix="conveyor-proxy-test-")
    os.chmod(reachable, 0o755)  # other users may walk up to the state directory, not into it
    state_dir = os.path.join(reachable, "state")
    proxy = ensure_proxy(state_dir, bind)
    try:
        connect_script = (
            "import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try:\n"
            "    s.connect(sys.argv[1]); print('connected')\n"
            "except PermissionError: print('refused')\n"
        )
        assert as_nobody(connect_script, proxy.socket_path) == "refused"
        # Loosened modes are not enough: the daemon checks the peer's uid itself.
        os.chmod(state_dir, 0o755)
        os.chmod(proxy.socket_path, 0o666)
        stop_script = (
            "import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])\n"
            "try:\n"
            '    s.sendall(b\'{"op": "stop"}\\n\')\n'
            "except BrokenPipeError:\n"
            "    pass  # refused before it could send\n"
            "print(s.recv(1000).decode())\n"
        )
        assert "only the proxy's owner may control it" in as_nobody(stop_script, proxy.socket_path)
        assert proxy.status()["ok"]
    finally:
        proxy.stop()
        shutil.rmtree(reachable)


# -- the forwarded headers, for a peer that is not on loopback -----------------------


def test_a_remote_client_cannot_claim_https_or_another_host() -> None:
    """Only a local front may set X-Forwarded-Proto/Host; a remote client's are replaced."""
    from conveyor.deploy.proxy_http import Client, forwarded_headers, parse_head

    request = parse_head(
        b"GET / HTTP/1.1\r\nHost: shop.example.com\r\nX-Forwarded-Proto: https\r\n"
        b"X-Forwarded-Host: evil.example\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n"
    )
    remote = Client(
        reader=None,
        writer=None,
        address="198.51.100.7",  # type: ignore[arg-type]
        trusted_front=False,
    )
    headers = dict(forwarded_headers(request, remote))
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Forwarded-Host"] == "shop.example.com"
    assert headers["X-Forwarded-For"] == "10.0.0.1, 198.51.100.7"
    assert headers["Host"] == "shop.example.com"


def test_a_request_head_past_the_limit_gets_431(proxy, bind, start_upstream) -> None:
    app = start_upstream("blue")
    proxy.switch(app.address)
    huge = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    assert raw_exchange(bind, huge).startswith(b"HTTP/1.1 431 ")
