"""``jobs.<id>.container`` and ``jobs.<id>.services``: Docker containers a job runs in or with.

GitHub reads the same keys for both (``image``, ``credentials``, ``env``, ``ports``,
``volumes``, ``options``; services also ``command`` and ``entrypoint``). A port is written
as Docker's ``-p`` takes it: ``[ip:][host port:]container port[/protocol]``, each port a
number or a range ``first-last``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from conveyor.workflow.model import Container
from conveyor.workflow.parse_base import Checker
from conveyor.workflow.parse_steps import ENV_NAME
from conveyor.workflow.yamlsource import is_mapping, is_scalar, is_sequence, kind_of

CONTAINER_KEYS = ("image", "credentials", "env", "ports", "volumes", "options")
SERVICE_KEYS = (*CONTAINER_KEYS, "command", "entrypoint")
SERVICE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")  # as engine.services.SERVICE_NAME
_PORTS = re.compile(r"(?P<first>[0-9]+)(?:-(?P<last>[0-9]+))?")
_PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass(frozen=True)
class PortSpec:
    """One ``ports:`` item: container ports and the host ports they are published on."""

    container_ports: tuple[int, ...]
    host_ports: tuple[int, ...] = ()  # empty: Docker picks free ones
    host_ip: str = ""
    protocol: str = "tcp"


def parse_port_spec(text: str) -> PortSpec:
    """``5432``, ``5432:5432``, ``127.0.0.1:8080:80/tcp``, ``8000-8001:8000-8001``;
    raises ValueError saying what is wrong."""
    spec, _, protocol = text.strip().partition("/")
    protocol = protocol or "tcp"
    if protocol not in _PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r} (use {', '.join(_PROTOCOLS)})")
    # The address may be IPv6 in brackets, itself full of colons: ports are taken from the end.
    parts = spec.rsplit(":", 2)
    container = _port_range(parts[-1], "container port")
    host: tuple[int, ...] = ()
    if len(parts) >= 2 and parts[-2] != "":
        host = _port_range(parts[-2], "host port")
        if len(host) != len(container):
            raise ValueError("the host and container port ranges differ in length")
    host_ip = parts[0] if len(parts) == 3 else ""
    if len(parts) == 2 and parts[-2] == "":
        raise ValueError("a host port is missing before ':'")
    return PortSpec(container, host, host_ip.strip("[]"), protocol)


def _port_range(text: str, what: str) -> tuple[int, ...]:
    match = _PORTS.fullmatch(text)
    if match is None:
        raise ValueError(f"{what} {text!r} is not a number or a range first-last")
    first = int(match.group("first"))
    last = int(match.group("last") or first)
    if not 1 <= first <= last <= 65535:
        raise ValueError(f"{what} {text!r} must lie within 1-65535, lowest first")
    return tuple(range(first, last + 1))


def parse_container(checker: Checker, node: yaml.Node, where: str) -> Container | None:
    """``container: image`` or ``container: {image: ..., ...}``."""
    what = f"'container' of {where}"
    if is_scalar(node):
        image = checker.text(node, what)
        return None if image is None else Container(position=checker.at(node), image=image)
    if not is_mapping(node):
        checker.problem(node, f"{what} must be an image name or a mapping, got {kind_of(node)}")
        return None
    return _parse_fields(checker, node, what, CONTAINER_KEYS)


def parse_services(checker: Checker, node: yaml.Node, where: str) -> dict[str, Container]:
    services: dict[str, Container] = {}
    for entry in checker.mapping(node, f"'services' of {where}") or []:
        if not SERVICE_ID.fullmatch(entry.key):
            checker.problem(
                entry.key_node,
                f"invalid service id '{entry.key}': it must start with a letter or '_' and "
                "contain only letters, digits, '-' and '_'",
            )
            continue
        what = f"service '{entry.key}' of {where}"
        if not is_mapping(entry.value):
            checker.problem(
                entry.value, f"{what} must be a mapping with an 'image', got {kind_of(entry.value)}"
            )
            continue
        service = _parse_fields(checker, entry.value, what, SERVICE_KEYS, at=entry.key_node)
        if service is not None:
            service.position = checker.at(entry.key_node)
            services[entry.key] = service
    return services


def _parse_fields(
    checker: Checker,
    node: yaml.Node,
    what: str,
    keys: tuple[str, ...],
    at: yaml.Node | None = None,
) -> Container | None:
    fields = checker.fields(node, what, keys)
    if fields is None:
        return None
    container = Container(position=checker.at(node))
    container.positions = {key: checker.at(entry.value) for key, entry in fields.items()}
    if not checker.require(fields, "image", node, what, at=at):
        return None
    # An empty image is allowed: GitHub then starts no such service (a conditional service).
    image = checker.text(fields["image"].value, f"'image' of {what}")
    container.image = image or ""
    if "credentials" in fields:
        credentials = checker.fields(
            fields["credentials"].value, f"'credentials' of {what}", ("username", "password")
        )
        for key, entry in (credentials or {}).items():
            value = checker.text(entry.value, f"credentials '{key}' of {what}")
            if value is not None:
                container.credentials[key] = value
    if "env" in fields:
        container.env, _ = checker.string_map(fields["env"].value, f"'env' of {what}", ENV_NAME)
    if "ports" in fields:
        container.ports = _ports(checker, fields["ports"].value, what, container)
    if "volumes" in fields:
        volumes = checker.string_list(fields["volumes"].value, f"'volumes' of {what}", single=False)
        container.volumes = [volume for volume, _ in volumes or []]
    for key in ("options", "command", "entrypoint"):
        if key in fields:
            setattr(container, key, checker.text(fields[key].value, f"'{key}' of {what}"))
    return container


def _ports(checker: Checker, node: yaml.Node, what: str, container: Container) -> list[str]:
    if not is_sequence(node):
        checker.problem(node, f"'ports' of {what} must be a list of ports, got {kind_of(node)}")
        return []
    ports: list[str] = []
    for item in node.value:
        text = checker.text(item, f"each item of 'ports' of {what}")
        if text is None:
            continue
        if "${{" not in text:
            try:
                parse_port_spec(text)
            except ValueError as error:
                checker.problem(item, f"port {text!r} of {what}: {error}")
                continue
        container.positions[f"ports.{len(ports)}"] = checker.at(item)
        ports.append(text)
    return ports
