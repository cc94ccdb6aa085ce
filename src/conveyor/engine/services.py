"""A job's ``services:`` mapped to services that already run, and its ``container:`` refused.

Conveyor starts no containers. A service the workflow declares is mapped to an address
where one already runs (``conveyor run --service postgres=127.0.0.1:5432``, the user's
config file, or a repository's setting on the server). As on GitHub, a job on the host
reaches its services at ``localhost`` and the published port, so a mapping to
``127.0.0.1:5432`` serves the usual ``ports: ['5432:5432']`` workflows unchanged, and
``job.services.<id>.ports`` maps each container port to the port given.

Before the job's first step: a job in a ``container:`` fails (it needs a Docker engine),
an unmapped service fails naming how to map it, and so does a mapping where nothing
answers (a TCP connect with a short timeout).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from conveyor.engine import evaluation
from conveyor.engine.evaluation import EngineProblem
from conveyor.workflow.errors import Position
from conveyor.workflow.model import Container, Job
from conveyor.workflow.parse_services import PortSpec, parse_port_spec

SERVICE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")  # a service id, as the parser takes it
CONNECT_TIMEOUT = 3.0  # seconds; a service on this machine or its network answers sooner
_LOOPBACK_NAMES = ("localhost", "ip6-localhost", "ip6-loopback")


@dataclass(frozen=True)
class ServiceAddress:
    """Where a running service listens: a host and its ports, in the order of the
    service's ``ports:`` list."""

    host: str
    ports: tuple[int, ...]

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{','.join(str(port) for port in self.ports)}"

    @property
    def is_loopback(self) -> bool:
        return self.host in _LOOPBACK_NAMES or self.host.startswith("127.") or self.host == "::1"


def parse_service_address(text: str) -> ServiceAddress:
    """``HOST:PORT[,PORT...]`` (``[v6]:PORT`` for an IPv6 address); raises ValueError."""
    host, sep, ports_text = text.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r}: expected HOST:PORT, e.g. 127.0.0.1:5432")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or any(c.isspace() for c in host) or "/" in host:
        raise ValueError(f"{text!r}: {host!r} is not a host name or address")
    ports = []
    for part in ports_text.split(","):
        if not part.strip().isdigit() or not 1 <= int(part) <= 65535:
            raise ValueError(f"{text!r}: port {part!r} is not a number from 1 to 65535")
        ports.append(int(part))
    return ServiceAddress(host, tuple(ports))


def parse_service_assignment(text: str) -> tuple[str, ServiceAddress]:
    """``NAME=HOST:PORT[,PORT...]``; raises ValueError."""
    name, sep, address = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"{text!r}: expected NAME=HOST:PORT, e.g. postgres=127.0.0.1:5432")
    if not SERVICE_NAME.fullmatch(name.strip()):
        raise ValueError(f"{text!r}: {name.strip()!r} is not a service id")
    return name.strip(), parse_service_address(address)


@dataclass
class ServicesReady:
    """What the job's contexts get (``job.services``) and what its log should say."""

    context: dict[str, dict[str, Any]]
    warnings: list[str]


def prepare_services(
    job: Job,
    contexts: dict[str, Any],
    addresses: dict[str, ServiceAddress],
    advice: str,
    isolated_network: bool,
) -> ServicesReady:
    """Check the job's container and services before its first step; raises EngineProblem.

    ``advice`` says how to map a service, with ``{name}`` for its id.
    """
    if job.container is not None:
        where = job.container.positions.get("image", job.container.position)
        image = evaluation.string(job.container.image, contexts, where, "container.image")
        if image:
            raise EngineProblem(
                f"{where}: job '{job.id}' runs in the container {image}: container jobs need "
                f"a Docker engine ({docker_state()}); remove 'container:' to run the steps "
                "on this host"
            )
    started: dict[str, _Started] = {}
    for service_id, service in job.services.items():
        where = service.positions.get("image", service.position)
        image = evaluation.string(service.image, contexts, where, "image")
        if image:  # an empty image: GitHub starts no such service
            started[service_id] = _Started(service, _port_specs(service, contexts))
    unmapped = [service_id for service_id in started if service_id not in addresses]
    if unmapped:
        docker = docker_state()
        raise EngineProblem(
            "; ".join(
                f"{started[name].service.position}: service '{name}' is not mapped to a "
                f"running service, and Conveyor starts no service containers "
                f"({docker}): map it with {advice.format(name=name)}"
                for name in unmapped
            )
        )
    if started and isolated_network:
        first = next(iter(started))
        raise EngineProblem(
            f"{started[first].service.position}: service '{first}' cannot be reached: this "
            "job's sandbox has a network of its own (loopback only), so no service outside "
            "it answers; jobs that use services need the host's network "
            "(on the server: CONVEYOR_SANDBOX_NETWORK=true, the default)"
        )
    context: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    for service_id, found in started.items():
        address = addresses[service_id]
        ports = _port_map(service_id, found, address, advice)
        _check_answers(service_id, found, address, advice)
        # No container and no Docker network: their ids are empty, as for a job on the host.
        context[service_id] = {"id": "", "network": "", "ports": ports}
        warnings += _surprises(service_id, found, address, ports)
    return ServicesReady(context, warnings)


@dataclass
class _Started:
    """A service the job starts on GitHub, with its ``ports:`` evaluated."""

    service: Container
    specs: list[tuple[PortSpec, Position]]

    @property
    def container_ports(self) -> list[int]:
        ports = [port for spec, _ in self.specs for port in spec.container_ports]
        return list(dict.fromkeys(ports))


# docker command -> (when, what it said): many jobs failing at once ask docker once.
_docker_seen: dict[str | None, tuple[float, str]] = {}
_DOCKER_STATE_TTL = 60.0  # seconds


def docker_state() -> str:
    """Whether a Docker engine answers here, in words for an error message."""
    import shutil
    import time

    docker = shutil.which("docker")
    seen = _docker_seen.get(docker)
    if seen is not None and time.monotonic() - seen[0] < _DOCKER_STATE_TTL:
        return seen[1]
    state = _ask_docker(docker)
    _docker_seen[docker] = (time.monotonic(), state)
    return state


def _ask_docker(docker: str | None) -> str:
    import subprocess

    if docker is None:
        return "found: none"
    try:
        info = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"found: the docker command, but `docker info` failed: {error}"
    if info.returncode != 0:
        why = (info.stderr.strip().splitlines() or [f"exit {info.returncode}"])[-1]
        return f"found: the docker command, but no engine answers it: {why}"
    return f"found: Docker {info.stdout.strip()}, which Conveyor does not drive yet"


def _port_specs(service: Container, contexts: dict[str, Any]) -> list[tuple[PortSpec, Position]]:
    specs = []
    for index, written in enumerate(service.ports):
        where = service.positions.get(f"ports.{index}", service.position)
        text = evaluation.string(written, contexts, where, "ports")
        try:
            specs.append((parse_port_spec(text), where))
        except ValueError as error:
            raise EngineProblem(f"{where}: port {text!r}: {error}") from None
    return specs


def _port_map(
    service_id: str, found: _Started, address: ServiceAddress, advice: str
) -> dict[str, str]:
    """``job.services.<id>.ports``: each container port to the port it is reached on."""
    container_ports = found.container_ports
    if not container_ports:
        return {}  # reached by the service's own port; GitHub's map is empty too
    if len(address.ports) != len(container_ports):
        listed = ", ".join(str(port) for port in container_ports)
        ports_form = ",".join("PORT" for _ in container_ports)
        example = advice.format(name=service_id).replace("HOST:PORT", f"HOST:{ports_form}")
        where = found.service.positions.get("ports", found.service.position)
        raise EngineProblem(
            f"{where}: service '{service_id}' publishes {len(container_ports)} port(s) "
            f"({listed}) but is mapped to {address}: give one port for each, in that "
            f"order: {example}"
        )
    return {
        str(inside): str(outside)
        for inside, outside in zip(container_ports, address.ports, strict=True)
    }


def _check_answers(service_id: str, found: _Started, address: ServiceAddress, advice: str) -> None:
    import socket

    datagram = {
        port for spec, _ in found.specs if spec.protocol != "tcp" for port in spec.container_ports
    }
    inside = found.container_ports
    for index, port in enumerate(address.ports):
        if index < len(inside) and inside[index] in datagram:
            continue  # nothing to connect to; a datagram service is taken on trust
        try:
            with socket.create_connection((address.host, port), timeout=CONNECT_TIMEOUT):
                pass
        except OSError as error:
            why = error.strerror or str(error) or type(error).__name__
            raise EngineProblem(
                f"{found.service.position}: service '{service_id}' is mapped to "
                f"{address.host}:{port}, but nothing answers there ({why}): start it, or map "
                f"the service to where it runs with {advice.format(name=service_id)}"
            ) from None


def _surprises(
    service_id: str, found: _Started, address: ServiceAddress, ports: dict[str, str]
) -> list[str]:
    """What may keep a workflow written for GitHub from reaching the mapped service."""
    warnings: list[str] = []
    if not address.is_loopback:
        warnings.append(
            f"service '{service_id}' is mapped to {address}: steps that reach it at "
            "localhost, as on GitHub, will not find it there; only those that take the "
            "host from their environment or inputs will"
        )
    for spec, where in found.specs:
        for inside, published in zip(spec.container_ports, spec.host_ports, strict=False):
            given = ports.get(str(inside))
            if given is not None and given != str(published):
                warnings.append(
                    f"service '{service_id}' publishes port {inside} on {published} "
                    f"({where}), but is mapped to port {given}: steps that write "
                    f"localhost:{published} will not reach it; "
                    f"job.services.{service_id}.ports[{inside}] says {given}"
                )
    return warnings
