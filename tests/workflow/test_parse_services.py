"""``services:`` and ``container:`` reach the model with every key and its position."""

from __future__ import annotations

import pytest

from conveyor.workflow.errors import WorkflowInvalid
from conveyor.workflow.load import parse_workflow
from conveyor.workflow.parse_services import PortSpec, parse_port_spec

WORKFLOW = """\
on: push
jobs:
  tests:
    runs-on: ubuntu-latest
    container: python:3.12
    services:
      postgres:
        image: postgres:16
        credentials:
          username: me
          password: ${{ secrets.PASSWORD }}
        env:
          POSTGRES_PASSWORD: postgres
        ports:
          - 5432:5432
          - 8080
        volumes: [data:/var/lib/postgresql/data]
        options: --health-cmd pg_isready
        command: postgres -c fsync=off
        entrypoint: docker-entrypoint.sh
      conditional:
        image: ''
    steps:
      - run: make test
"""


def test_every_key_of_a_service_and_the_short_container_form_are_read():
    job = parse_workflow(WORKFLOW, "ci.yml").jobs["tests"]
    assert job.container is not None and job.container.image == "python:3.12"
    assert str(job.container.position) == "ci.yml:5:16"
    postgres = job.services["postgres"]
    assert str(postgres.position) == "ci.yml:7:7"
    assert postgres.image == "postgres:16"
    assert postgres.credentials == {"username": "me", "password": "${{ secrets.PASSWORD }}"}
    assert postgres.env == {"POSTGRES_PASSWORD": "postgres"}
    assert postgres.ports == ["5432:5432", "8080"]
    assert str(postgres.positions["ports.1"]) == "ci.yml:16:13"
    assert postgres.volumes == ["data:/var/lib/postgresql/data"]
    assert postgres.options == "--health-cmd pg_isready"
    assert postgres.command == "postgres -c fsync=off"
    assert postgres.entrypoint == "docker-entrypoint.sh"
    # An empty image is GitHub's way to leave a service out; it is kept as written.
    assert job.services["conditional"].image == ""
    assert list(job.services) == ["postgres", "conditional"]


def test_a_job_without_them_runs_on_the_host_with_no_services():
    text = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: 'true'\n"
    job = parse_workflow(text, "ci.yml").jobs["a"]
    assert job.container is None and job.services == {}


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("5432", PortSpec((5432,))),
        ("5432:5432", PortSpec((5432,), (5432,))),
        ("15432:5432/tcp", PortSpec((5432,), (15432,))),
        ("127.0.0.1:8080:80", PortSpec((80,), (8080,), "127.0.0.1")),
        ("127.0.0.1::80", PortSpec((80,), (), "127.0.0.1")),
        ("[::1]:8080:80", PortSpec((80,), (8080,), "::1")),
        ("8000-8001:9000-9001/udp", PortSpec((9000, 9001), (8000, 8001), "", "udp")),
    ],
)
def test_port_specs_read_as_docker_reads_them(text, spec):
    assert parse_port_spec(text) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http", "container port 'http' is not a number"),
        ("70000", "within 1-65535"),
        ("80/icmp", "unknown protocol 'icmp'"),
        ("8000-8002:80", "ranges differ in length"),
        (":80", "a host port is missing"),
    ],
)
def test_bad_port_specs_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_port_spec(text)


@pytest.mark.parametrize(
    ("yaml_text", "where", "message"),
    [
        ("    container: [a]\n", "5:16", "must be an image name or a mapping, got a list"),
        ("    services: [postgres]\n", "5:15", "'services' of job 'a' must be a mapping"),
        ("    services:\n      db: postgres\n", "6:11", "service 'db' of job 'a' must be a"),
        (
            "    services:\n      db:\n        image: x\n        ports: 5432\n",
            "8:16",
            "'ports' of service 'db' of job 'a' must be a list of ports",
        ),
        (
            "    services:\n      db:\n        image: x\n        credentials: {user: me}\n",
            "8:23",
            "unknown key 'user' in 'credentials' of service 'db'",
        ),
        (
            "    container:\n      image: x\n      command: run\n",
            "7:7",
            "unknown key 'command' in 'container' of job 'a'",
        ),
    ],
)
def test_malformed_services_and_containers_are_refused_at_their_place(yaml_text, where, message):
    text = f"on: push\njobs:\n  a:\n    runs-on: x\n{yaml_text}    steps:\n      - run: 'true'\n"
    with pytest.raises(WorkflowInvalid) as raised:
        parse_workflow(text, "ci.yml")
    [problem] = raised.value.problems
    assert f"{problem.position.line}:{problem.position.column}" == where, str(problem)
    assert message in problem.message
