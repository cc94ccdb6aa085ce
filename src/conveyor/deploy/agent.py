"""The deploy agent: ``conveyor.deploy`` run ON an ssh:// target by its own python3.

``python3 <target>/.conveyor/agent/<hash>.pyz COMMAND`` (deploy, rollback, status, stop;
or the same run by ``deploy.remote``'s boot) reads one JSON request line on stdin, for
``deploy`` followed by the project's files as a tar stream (kept in
``.conveyor/staging/`` while the deploy unpacks it), runs the same deployer a local
target uses, and writes JSON lines on stdout: ``{"log": line}``,
``{"changed": [state, release, reason]}``, then ``{"result": ...}`` or
``{"error": message}``. ``deploy.remote`` is the other end.

A deploy is not left half done when the connection drops: SIGHUP is ignored and a
closed stdout sends the rest of the lines to ``<target>/.conveyor/agent.log``."""

from __future__ import annotations

import json
import os
import signal
import sys
import uuid
from dataclasses import asdict, fields
from typing import Any, BinaryIO, TextIO

from conveyor.deploy import deployer
from conveyor.deploy.state import DeployError, Target

COMMANDS = ("deploy", "rollback", "status", "stop")


class Output:
    """The JSON-lines channel back to the deploying machine."""

    def __init__(self, stream: TextIO, fallback_log: str) -> None:
        self._stream: TextIO | None = stream
        self._fallback_log = fallback_log

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message) + "\n"
        if self._stream is not None:
            try:
                self._stream.write(line)
                self._stream.flush()
                return
            except (BrokenPipeError, OSError, ValueError):
                self._stream = None  # the deploying side is gone: the deploy goes on
        try:
            with open(self._fallback_log, "a", encoding="utf-8") as log:
                log.write(line)
        except OSError:
            pass

    def reporter(self) -> deployer.Reporter:
        def changed(state: str, release: str, reason: str | None) -> None:
            self.send({"changed": [state, release, reason], "host": reporter.live_host})

        reporter = deployer.Reporter(lambda line: self.send({"log": line}), changed)
        return reporter


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # The protocol gets a descriptor of its own; fd 1 becomes stderr, so nothing a
    # child process prints can break a JSON line.
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    if len(argv) != 1 or argv[0] not in COMMANDS:
        sys.stderr.write(f"usage: agent.pyz {{{','.join(COMMANDS)}}} < request\n")
        return 2
    stdin = sys.stdin.buffer
    request = json.loads(stdin.readline())
    target = Target(request["target"])
    output = Output(protocol, os.path.join(target.state_dir, "agent.log"))
    env = {**os.environ, **request.get("env", {})}
    try:
        result = _run(argv[0], request, target, stdin, output, env)
    except DeployError as error:
        output.send({"error": str(error)})
        return 1
    output.send({"result": result})
    return 0


def _run(
    command: str,
    request: dict[str, Any],
    target: Target,
    stdin: BinaryIO,
    output: Output,
    env: dict[str, str],
) -> Any:
    reporter = output.reporter()
    if command == "deploy":
        return asdict(_deploy(request, target, stdin, reporter, env))
    if command == "rollback":
        result = deployer.rollback(
            target.path,
            request["bind"],
            reporter,
            env,
            to=request.get("to"),
            reason=request.get("reason"),
            health_timeout=request.get("health_timeout", 30.0),
        )
        return asdict(result)
    if command == "status":
        return [asdict(row) for row in deployer.status(target.path)]
    return deployer.stop_all(target.path, request["bind"])


def _deploy(
    request: dict[str, Any],
    target: Target,
    stdin: BinaryIO,
    reporter: deployer.Reporter,
    env: dict[str, str],
) -> deployer.DeployResult:
    """The project's tar received into a staging file, then deployed from it."""
    try:
        target.make_dirs()
    except OSError as error:
        raise DeployError(f"cannot write to {target.path}: {error.strerror}") from None
    archive = os.path.join(target.state_dir, "staging", f"{uuid.uuid4().hex}.tar")
    try:
        os.makedirs(os.path.dirname(archive), exist_ok=True)
        receive_framed(stdin, archive)
        known = {field.name for field in fields(deployer.DeploySettings)}
        given = {key: value for key, value in request["settings"].items() if key in known}
        settings = deployer.DeploySettings(
            **{
                **given,
                "target": target.path,
                "project_dir": "",
                "archive": archive,
                "sha": request["sha"],
            }
        )
        return deployer.deploy(settings, reporter, env)
    finally:
        try:
            os.unlink(archive)
        except FileNotFoundError:
            pass


def receive_framed(stream: BinaryIO, path: str) -> None:
    """The bytes ``remote.Framed`` sent, written to ``path``: chunks each after its
    length (hex, a line), ended by a chunk of 0. A stream that ends before that was cut
    (the connection dropped): a tar cut at a member's edge would still read as whole,
    so a deploy of half a project is refused here, before any release exists."""
    cut = DeployError("the connection was lost while the project was sent: nothing deployed")
    with open(path, "xb") as file:
        while True:
            header = stream.readline()
            try:
                size = int(header, 16)
            except ValueError:
                raise cut from None
            if size == 0:
                return
            chunk = stream.read(size)
            if len(chunk) != size:
                raise cut
            file.write(chunk)
