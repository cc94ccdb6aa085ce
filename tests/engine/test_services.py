"""``services:`` mapped to real listening sockets, ``container:`` refused, both before any step.

Each service here is a real TCP server on 127.0.0.1 that answers one line to whoever
connects, so a step that reaches it proves the mapping, not just the context's text.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.engine.events import JobFinished, StepStarted
from conveyor.engine.services import ServiceAddress, parse_service_address, parse_service_assignment
from conveyor.executors.local import LocalExecutor
from tests.engine.helpers import Outcome, run_yaml


class Greeter:
    """A TCP server (on 127.0.0.1 by default) that writes ``greeting`` to each connection."""

    def __init__(self, greeting: str, host: str = "127.0.0.1") -> None:
        self.socket = socket.create_server((host, 0))
        self.port = self.socket.getsockname()[1]
        self.greeting = greeting.encode()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            with connection:
                try:
                    connection.sendall(self.greeting + b"\n")
                except OSError:
                    pass  # the connect check hangs up at once

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def greeters() -> Iterator[list[Greeter]]:
    made: list[Greeter] = []
    yield made
    for greeter in made:
        greeter.close()


def greeter(made: list[Greeter], greeting: str, host: str = "127.0.0.1") -> Greeter:
    made.append(Greeter(greeting, host))
    return made[-1]


def outward_address() -> str | None:
    """This machine's address on its network (a UDP socket sends nothing to learn it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def dead_port() -> int:
    """A port nothing listens on: bound once, then closed."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        return server.getsockname()[1]


def run_local(text: str, workspace: Path, **options: object) -> Outcome:
    return run_yaml(text, str(workspace), executor=LocalExecutor(), **options)


# bash's /dev/tcp reads the service's greeting: the step really reaches it.
READ_SERVICE = 'exec 3<>/dev/tcp/localhost/{port}; read -r line <&3; echo "got: $line"'

POSTGRES_LIKE = """\
on: push
jobs:
  tests:
    runs-on: ubuntu-latest
    services:
      postgres:
        image: postgres:16
        ports: ['5432:5432']
    steps:
      - name: reach it
        env:
          DB_PORT: ${{ job.services.postgres.ports[5432] }}
        run: |
          echo "port=$DB_PORT id=[${{ job.services.postgres.id }}]"
          exec 3<>/dev/tcp/localhost/$DB_PORT; read -r line <&3; echo "got: $line"
"""


def started_steps(outcome: Outcome) -> list[StepStarted]:
    return [event for event in outcome.events.events if isinstance(event, StepStarted)]


def job_reason(outcome: Outcome, key: str = "tests") -> str:
    [finished] = [
        e for e in outcome.events.events if isinstance(e, JobFinished) and e.job_key == key
    ]
    return finished.reason or ""


def test_a_mapped_service_fills_its_ports_and_the_step_reaches_it(tmp_path, greeters):
    db = greeter(greeters, "hello from db")
    outcome = run_local(
        POSTGRES_LIKE, tmp_path, services={"postgres": ServiceAddress("127.0.0.1", (db.port,))}
    )
    assert outcome.result.status == "success", outcome.result.reason
    log = outcome.events.log("tests")
    assert f"port={db.port} id=[]" in log
    assert "got: hello from db" in log


def test_a_published_port_other_than_the_mapped_one_is_warned_about(tmp_path, greeters):
    db = greeter(greeters, "db")
    outcome = run_local(
        POSTGRES_LIKE, tmp_path, services={"postgres": ServiceAddress("127.0.0.1", (db.port,))}
    )
    warnings = [line for line in outcome.events.log("tests") if "##[warning]" in line]
    assert len(warnings) == 1
    assert (
        f"publishes port 5432 on 5432 (ci.yml:8:17), but is mapped to port {db.port}"
        in (warnings[0])
    )


def test_a_service_on_another_host_is_reached_by_address_and_warned_about(tmp_path, greeters):
    address = outward_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    db = greeter(greeters, "far", host=address)
    text = POSTGRES_LIKE.replace("localhost", "${{ env.DB_HOST }}").replace(
        "    steps:", f"    env:\n      DB_HOST: {address}\n    steps:"
    )
    mapping = {"postgres": ServiceAddress(address, (db.port,))}
    outcome = run_local(text, tmp_path, services=mapping)
    assert outcome.result.status == "success", outcome.result.reason
    log = outcome.events.log("tests")
    assert "got: far" in log
    assert any(
        f"service 'postgres' is mapped to {address}:{db.port}: steps that reach it at "
        "localhost, as on GitHub, will not find it there" in line
        for line in log
    )


def test_several_ports_map_in_the_order_the_workflow_lists_them(tmp_path, greeters):
    api, console = greeter(greeters, "api"), greeter(greeters, "console")
    text = """\
    on: push
    jobs:
      tests:
        runs-on: ubuntu-latest
        services:
          minio:
            image: minio/minio
            ports: ['9000:9000', '9001']
        steps:
          - run: |
              echo "api=${{ job.services.minio.ports['9000'] }}"
              echo "console=${{ job.services.minio.ports[9001] }}"
              exec 3<>/dev/tcp/localhost/${{ job.services.minio.ports[9001] }}
              read -r line <&3; echo "got: $line"
    """
    address = parse_service_address(f"127.0.0.1:{api.port},{console.port}")
    outcome = run_local(text, tmp_path, services={"minio": address})
    assert outcome.result.status == "success", outcome.result.reason
    log = outcome.events.log("tests")
    assert f"api={api.port}" in log and f"console={console.port}" in log
    assert "got: console" in log


def test_a_service_given_too_few_ports_says_how_many_and_in_which_order(tmp_path, greeters):
    api = greeter(greeters, "api")
    text = """\
    on: push
    jobs:
      tests:
        runs-on: ubuntu-latest
        services:
          minio:
            image: minio/minio
            ports: [9000, 9001]
        steps:
          - run: touch never-ran
    """
    outcome = run_local(
        text, tmp_path, services={"minio": ServiceAddress("127.0.0.1", (api.port,))}
    )
    reason = job_reason(outcome)
    assert reason.startswith("ci.yml:8:16: service 'minio' publishes 2 port(s) (9000, 9001)")
    assert "--service minio=HOST:PORT,PORT" in reason
    assert not (tmp_path / "never-ran").exists()


def test_an_unmapped_service_fails_the_job_before_any_step_naming_how_to_map_it(tmp_path):
    outcome = run_local(
        POSTGRES_LIKE.replace("reach it", "never"),
        tmp_path,
        service_advice="conveyor repo service shop {name}=HOST:PORT",
    )
    assert outcome.result.status == "failure"
    reason = job_reason(outcome)
    assert reason.startswith("ci.yml:6:7: service 'postgres' is not mapped to a running service")
    assert reason.endswith("map it with conveyor repo service shop postgres=HOST:PORT")
    assert started_steps(outcome) == []


def test_a_service_where_nothing_listens_fails_before_any_step_naming_the_address(tmp_path):
    port = dead_port()
    outcome = run_local(
        POSTGRES_LIKE, tmp_path, services={"postgres": ServiceAddress("127.0.0.1", (port,))}
    )
    reason = job_reason(outcome)
    assert reason.startswith(
        f"ci.yml:6:7: service 'postgres' is mapped to 127.0.0.1:{port}, but nothing answers "
        "there (Connection refused)"
    )
    assert "--service postgres=HOST:PORT" in reason
    assert started_steps(outcome) == []


def test_a_service_whose_image_is_empty_is_not_started_nor_needed(tmp_path):
    text = """\
    on: push
    jobs:
      tests:
        runs-on: ubuntu-latest
        strategy:
          fail-fast: false
          matrix:
            db: ['', 'redis:7']
        services:
          cache:
            image: ${{ matrix.db }}
            ports: [6379]
        steps:
          - run: echo "cache=[${{ job.services.cache.ports[6379] }}]"
    """
    outcome = run_local(text, tmp_path)
    results = outcome.result.jobs
    assert results["tests ()"].status == "success"
    assert "cache=[]" in outcome.events.log("tests ()")
    # The leg that names an image needs the service: not mapped, it fails before its steps.
    assert "service 'cache' is not mapped" in (results["tests (redis:7)"].reason or "")


def test_a_service_without_ports_is_checked_at_the_port_given(tmp_path, greeters):
    db = greeter(greeters, "plain")
    text = """\
    on: push
    jobs:
      tests:
        runs-on: ubuntu-latest
        services:
          db:
            image: postgres
        steps:
          - run: echo "ports=${{ toJSON(job.services.db.ports) }}"
    """
    outcome = run_local(text, tmp_path, services={"db": ServiceAddress("127.0.0.1", (db.port,))})
    assert outcome.result.status == "success", outcome.result.reason
    assert "ports={}" in outcome.events.log("tests")
    closed = run_local(text, tmp_path, services={"db": ServiceAddress("127.0.0.1", (dead_port(),))})
    assert "nothing answers there" in job_reason(closed)


def test_a_container_job_needs_a_docker_engine_and_says_none_was_found(tmp_path, monkeypatch):
    # No docker on PATH: the engine looks for it where the user would.
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert shutil.which("docker") is None
    text = """\
    on: push
    jobs:
      tests:
        runs-on: ubuntu-latest
        container:
          image: python:3.12
        steps:
          - run: touch never-ran
      other:
        runs-on: ubuntu-latest
        steps:
          - run: echo on the host
    """
    outcome = run_local(text, tmp_path)
    reason = job_reason(outcome)
    assert reason.startswith(
        "ci.yml:6:14: job 'tests' runs in the container python:3.12: container jobs need a "
        "Docker engine (found: none)"
    )
    assert not (tmp_path / "never-ran").exists()
    assert outcome.result.jobs["other"].status == "success"


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker command")
def test_a_container_job_says_what_docker_answered(tmp_path):
    text = """\
    on: push
    jobs:
      tests:
        runs-on: ubuntu-latest
        container: python:3.12
        steps:
          - run: touch never-ran
    """
    reason = job_reason(run_local(text, tmp_path))
    assert "container jobs need a Docker engine (found: " in reason
    assert "found: none" not in reason
    assert not (tmp_path / "never-ran").exists()


def test_a_container_whose_image_is_empty_runs_the_steps_on_the_host(tmp_path):
    text = """\
    on: push
    jobs:
      tests:
        runs-on: ubuntu-latest
        container: ${{ vars.IMAGE }}
        steps:
          - run: echo on the host
    """
    outcome = run_local(text, tmp_path)
    assert outcome.result.status == "success", outcome.result.reason


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="scripts/test installs bubblewrap")
@pytest.mark.parametrize("network", [True, False])
def test_a_sandbox_without_the_hosts_network_refuses_services(tmp_path, greeters, network):
    from conveyor.executors.sandbox import SandboxExecutor, SandboxPolicy, check_available

    place = Path(tempfile.mkdtemp(prefix="conveyor-services-"))
    place.chmod(0o711)
    try:
        workspace = place / "workspace"
        workspace.mkdir()
        run_as = None
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            run_as = (nobody.pw_uid, nobody.pw_gid)
            os.chown(workspace, *run_as)
        policy = SandboxPolicy(network=network, run_as=run_as, state_dir=str(place / "jobs"))
        executor = SandboxExecutor(policy, check_available(policy))
        db = greeter(greeters, "from the host")
        outcome = run_yaml(
            POSTGRES_LIKE,
            str(workspace),
            executor=executor,
            services={"postgres": ServiceAddress("127.0.0.1", (db.port,))},
            base_env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
        )
    finally:
        shutil.rmtree(place, ignore_errors=True)
    if network:
        # The sandbox shares the host's network: the step inside it reaches the service.
        assert outcome.result.status == "success", outcome.result.reason
        assert "got: from the host" in outcome.events.log("tests")
    else:
        reason = job_reason(outcome)
        assert "ci.yml:6:7: service 'postgres' cannot be reached: this job's sandbox has a " in (
            reason
        )
        assert "CONVEYOR_SANDBOX_NETWORK=true" in reason
        assert started_steps(outcome) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres=127.0.0.1:5432", ("postgres", ServiceAddress("127.0.0.1", (5432,)))),
        ("minio=localhost:9000,9001", ("minio", ServiceAddress("localhost", (9000, 9001)))),
        ("db=[::1]:5432", ("db", ServiceAddress("::1", (5432,)))),
    ],
)
def test_service_assignments_are_read(text, expected):
    assert parse_service_assignment(text) == expected
    assert f"{expected[0]}={expected[1]}" == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("postgres", "expected NAME=HOST:PORT"),
        ("postgres=127.0.0.1", "expected HOST:PORT"),
        ("postgres=:5432", "expected HOST:PORT"),
        ("postgres=127.0.0.1:http", "port 'http' is not a number"),
        ("postgres=127.0.0.1:70000", "from 1 to 65535"),
        ("my.db=127.0.0.1:5432", "'my.db' is not a service id"),
    ],
)
def test_bad_service_assignments_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_service_assignment(text)
