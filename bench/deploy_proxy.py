"""Benchmark of the deploy proxy (issue 12): its cost per request, and requests lost switching.

    .venv/bin/python bench/deploy_proxy.py            # about 30 s
    .venv/bin/python bench/deploy_proxy.py --quick    # a few seconds

Everything runs on 127.0.0.1: real app servers (``tests/deploy/upstream_app.py``, a
threaded stdlib HTTP server that answers its name), the real proxy daemon started by
``ensure_proxy``, and clients on ``http.client`` threads in this process. It measures:

1. latency: sequential GETs over one keep-alive connection, direct to the app server and
   through the proxy (median and p99; the difference is what the proxy adds), and direct
   with a new connection per request, as the proxy itself talks to the app server;
2. throughput: CLIENTS threads, each on its own keep-alive connection, for SECONDS,
   direct and through the proxy (requests/s);
3. switches under load: the same threads (half of them asking for a 50 ms answer, so
   requests are in flight at every switch) hammer the proxy while it switches SWITCHES
   times, each time to a freshly started app server, killing the old one as soon as
   ``switch`` returns (so a request still routed to it would fail): failed requests
   (target zero) and how long a ``switch`` took.

Prints a Markdown report and writes it to ``bench/results/deploy_proxy.md``. Bounded in
count and time; every process it starts is ended.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from conveyor.deploy.proxy import ProxyClient, ensure_proxy  # noqa: E402

UPSTREAM_APP = ROOT / "tests" / "deploy" / "upstream_app.py"


class App:
    def __init__(self, name: str) -> None:
        self.name = name
        self.process = subprocess.Popen([sys.executable, str(UPSTREAM_APP), name],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.address = f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


def latencies(port: int, count: int) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        connection.request("GET", "/")
        connection.getresponse().read()
        times.append(time.perf_counter() - started)
    connection.close()
    return times


def latencies_new_connections(port: int, count: int) -> list[float]:
    """As the proxy talks to the app server: one connection per request."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/", headers={"Connection": "close"})
        connection.getresponse().read()
        connection.close()
        times.append(time.perf_counter() - started)
    return times


def hammer(port: int, clients: int, stop: threading.Event,
           slow_clients: int = 0) -> tuple[list[int], list[str]]:
    """Start ``clients`` threads sending GETs until ``stop``, the first ``slow_clients`` of
    them for a 50 ms answer; returns live counters."""
    done = [0]
    failures: list[str] = []

    def client(path: str) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while not stop.is_set():
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    failures.append(str(response.status))
                done[0] += 1
            except (OSError, http.client.HTTPException) as error:
                failures.append(repr(error))
                connection.close()
        connection.close()

    threads = [
        threading.Thread(target=client, args=("/slow?seconds=0.05" if i < slow_clients else "/",))
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    hammer.threads = threads  # type: ignore[attr-defined]
    return done, failures


def throughput(port: int, clients: int, seconds: float) -> float:
    stop = threading.Event()
    done, failures = hammer(port, clients, stop)
    time.sleep(seconds)
    stop.set()
    for thread in hammer.threads:  # type: ignore[attr-defined]
        thread.join(30)
    if failures:
        raise SystemExit(f"throughput run had failures: {failures[:3]}")
    return done[0] / seconds


def switches_under_load(proxy: ProxyClient, port: int, first: App, clients: int,
                        switches: int) -> tuple[int, int, list[float]]:
    stop = threading.Event()
    done, failures = hammer(port, clients, stop, slow_clients=clients // 2)
    current = first
    durations = []
    try:
        for number in range(1, switches + 1):
            time.sleep(0.2)
            new = App(f"v{number}")
            started = time.perf_counter()
            proxy.switch(new.address, drain_seconds=30)
            durations.append(time.perf_counter() - started)
            current.kill()
            current = new
        time.sleep(0.2)
    finally:
        stop.set()
        for thread in hammer.threads:  # type: ignore[attr-defined]
            thread.join(30)
        current.kill()
    return done[0], len(failures), durations


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    count, seconds, switches = (300, 1.0, 5) if options.quick else (2000, 5.0, 20)
    clients = 4
    state_dir = tempfile.mkdtemp(prefix="conveyor-proxy-bench-")
    port = free_port()
    app = App("v0")
    proxy = ensure_proxy(os.path.join(state_dir, "proxy"), f"127.0.0.1:{port}")
    try:
        proxy.switch(app.address)
        latencies(app.port, 50)  # warm-up, both paths
        latencies(port, 50)
        direct_times = latencies(app.port, count)
        fresh_times = latencies_new_connections(app.port, count)
        proxied_times = latencies(port, count)
        direct_rate = throughput(app.port, clients, seconds)
        proxied_rate = throughput(port, clients, seconds)
        sent, failed, durations = switches_under_load(proxy, port, app, clients, switches)
    finally:
        proxy.stop()
        app.kill()
        shutil.rmtree(state_dir, ignore_errors=True)

    def p99(values: list[float]) -> float:
        return statistics.quantiles(values, n=100)[98]

    direct_median = statistics.median(direct_times)
    proxied_median = statistics.median(proxied_times)
    report = "\n".join([
        "# Deploy proxy benchmark",
        "",
        f"{os.cpu_count()} cores; {count} sequential requests for latency, {clients} client "
        f"threads for {seconds:.0f} s for throughput, {switches} switches under load.",
        "",
        "| path | median latency | p99 latency | requests/s |",
        "|---|---|---|---|",
        f"| direct to the app server | {ms(direct_median)} | {ms(p99(direct_times))} "
        f"| {direct_rate:.0f} |",
        f"| direct, a new connection per request | {ms(statistics.median(fresh_times))} "
        f"| {ms(p99(fresh_times))} | |",
        f"| through the proxy | {ms(proxied_median)} | {ms(p99(proxied_times))} "
        f"| {proxied_rate:.0f} |",
        "",
        f"Added latency (median): {ms(proxied_median - direct_median)} over the direct "
        "keep-alive path (the proxy opens one connection to the app server per request, "
        "as gunicorn's sync workers require).",
        "",
        f"Switches under load ({clients // 2} of the {clients} clients asking for a 50 ms "
        f"answer): {switches} switches, {sent} requests answered, "
        f"**{failed} failed**; a switch took {ms(statistics.median(durations))} median, "
        f"{ms(max(durations))} at most.",
        "",
    ])
    print(report)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "deploy_proxy.md").write_text(report)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
