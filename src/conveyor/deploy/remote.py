"""Deploying to an ``ssh://user@host[:port]/path`` target: this machine's end.

The deploy's work happens on the target (manage.py, gunicorn and the proxy run there),
by the same ``conveyor.deploy`` code a local target uses, not by commands sent one by
one. Over one SSH connection:

1. a probe (``python3 -c``) checks the target's python and that the path is writable;
2. the agent (this package as a zipapp, ``agent_bundle``) is uploaded to
   ``<path>/.conveyor/agent/<hash>.pyz`` unless that exact one is there;
3. ``python3 <agent> COMMAND`` gets a JSON request line, for a deploy followed by the
   project's files as a tar stream (links sent as links), and answers JSON lines that
   become the same Reporter calls (log, changed) a local deploy makes.
"""

from __future__ import annotations

import json
import os
import shlex
import tarfile
from collections.abc import Callable
from dataclasses import fields
from typing import Any, BinaryIO

from conveyor.deploy import agent_bundle, deployer, releases
from conveyor.deploy.ssh_target import SshAddress, SshOptions
from conveyor.deploy.state import DeployError

# Checks the target before the agent runs; written for any python3, an old one must
# say it is too old. Answers one JSON line.
_PROBE = r"""
import json, os, sys
target, agent = sys.argv[1], sys.argv[2]
def answer(**data):
    sys.stdout.write(json.dumps(data) + "\n")
    sys.exit(0)
if sys.version_info < (3, 11):
    answer(error="python3 on the target is %d.%d: the deploy needs 3.11 or later"
           % sys.version_info[:2])
try:
    os.makedirs(os.path.dirname(agent), mode=0o700, exist_ok=True)
except OSError as error:
    answer(error="cannot write to %s: %s" % (target, error.strerror))
for path in (target, os.path.dirname(agent)):
    if not os.access(path, os.W_OK):
        answer(error="cannot write to %s: permission denied" % path)
answer(have=os.path.isfile(agent))
"""

# Writes stdin to the agent's path, atomically (a deploy may be starting it meanwhile).
_UPLOAD = r"""
import os, sys
path = sys.argv[1]
temporary = "%s.%d.tmp" % (path, os.getpid())
with open(temporary, "wb") as file:
    file.write(sys.stdin.buffer.read())
os.replace(temporary, path)
"""

# Variables of this machine or of the runner that mean nothing on the target.
_NOT_FORWARDED = {"PATH", "HOME", "PWD", "USER", "LOGNAME", "SHELL", "TMPDIR", "VIRTUAL_ENV"}
_NOT_SETTINGS = {"target", "project_dir", "files", "sha", "ssh"}  # the key never travels


def forwarded_env(env: dict[str, str]) -> dict[str, str]:
    """What of ``env`` the target's commands get, on top of the target's own environment."""
    return {
        key: value
        for key, value in env.items()
        if key not in _NOT_FORWARDED and not key.startswith(("GITHUB_", "RUNNER_"))
    }


def deploy(
    settings: deployer.DeploySettings, reporter: deployer.Reporter, env: dict[str, str]
) -> deployer.DeployResult:
    """``deployer.deploy`` for an ssh:// target. ``env``: what the workflow sets (its
    ``env:``), given to the release's commands on top of the target's environment."""
    address = SshAddress.parse(settings.target)
    shared = deployer.DEFAULT_SHARED if settings.shared is None else settings.shared
    names = releases.deployed_files(settings.project_dir, shared, settings.files)
    sha = releases.project_sha(settings.project_dir) if settings.sha is None else settings.sha
    request = {
        "target": address.path,
        "settings": {
            field.name: getattr(settings, field.name)
            for field in fields(settings)
            if field.name not in _NOT_SETTINGS
        },
        "files": names,
        "sha": sha,
        "env": forwarded_env(env),
    }
    with _Agent(address, settings.ssh, settings.python or "python3", reporter) as agent:
        reporter.log(f"sending {len(names)} files to {address.where}")
        result = agent.call("deploy", request, _project_sender(settings.project_dir, names))
    return deployer.DeployResult(**result)


def rollback(
    target: str,
    bind: str,
    reporter: deployer.Reporter,
    env: dict[str, str],
    to: str | None,
    health_timeout: float,
    ssh: SshOptions | None,
) -> deployer.DeployResult:
    address = SshAddress.parse(target)
    request = {
        "target": address.path,
        "bind": bind,
        "to": to,
        "health_timeout": health_timeout,
        "env": forwarded_env(env),
    }
    with _Agent(address, ssh, "python3", reporter) as agent:
        return deployer.DeployResult(**agent.call("rollback", request))


def status(target: str, ssh: SshOptions | None) -> list[deployer.ReleaseStatus]:
    address = SshAddress.parse(target)
    with _Agent(address, ssh, "python3", deployer.Reporter(lambda line: None)) as agent:
        rows = agent.call("status", {"target": address.path})
    return [deployer.ReleaseStatus(**row) for row in rows]


def stop_all(target: str, bind: str, ssh: SshOptions | None) -> list[str]:
    address = SshAddress.parse(target)
    with _Agent(address, ssh, "python3", deployer.Reporter(lambda line: None)) as agent:
        return list(agent.call("stop", {"target": address.path, "bind": bind}))


def _project_sender(project_dir: str, names: list[str]) -> Callable[[BinaryIO], None]:
    """Writes the project's files as a tar stream: regular files and symlinks (as links,
    never followed; a file is opened with O_NOFOLLOW, so a link swapped in meanwhile is
    not read either)."""

    def send(stream: BinaryIO) -> None:
        with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as archive:
            for name in names:
                path = os.path.join(project_dir, name)
                try:
                    info = archive.gettarinfo(path, arcname=name)
                except FileNotFoundError:
                    continue
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if info.issym():
                    archive.addfile(info)
                elif info.isfile():
                    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                    with os.fdopen(descriptor, "rb") as file:
                        archive.addfile(info, file)

    return send


class _Agent:
    """A connection to the target with the agent in place; ``call`` runs one command."""

    def __init__(
        self,
        address: SshAddress,
        options: SshOptions | None,
        python: str,
        reporter: deployer.Reporter,
    ) -> None:
        self.address = address
        self.options = options
        self.python = python
        self.reporter = reporter

    def __enter__(self) -> _Agent:
        from conveyor.deploy import ssh_session

        self.session = ssh_session.connect(self.address, self.options)
        try:
            self.path = self._install()
        except BaseException:
            self.session.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    def _install(self) -> str:
        digest, data = agent_bundle.bundle()
        where = self.address.where
        agent = f"{self.address.path}/.conveyor/agent/{digest}.pyz"
        python = shlex.quote(self.python)
        code, out, err = self.session.run(
            f"{python} -c {shlex.quote(_PROBE)} {shlex.quote(self.address.path)} "
            f"{shlex.quote(agent)}"
        )
        if code == 127 or (code != 0 and "not found" in err):
            raise DeployError(
                f"no {self.python} on {where}: install Python 3.11 or later there "
                "(or name its interpreter with the python input)"
            )
        try:
            answer = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise DeployError(f"{self.python} on {where} failed: {_last_line(err)}") from None
        if "error" in answer:
            raise DeployError(f"{where}: {answer['error']}")
        if not answer.get("have"):
            code, _, err = self.session.run(
                f"{python} -c {shlex.quote(_UPLOAD)} {shlex.quote(agent)}",
                send=lambda stream: stream.write(data),
            )
            if code != 0:
                raise DeployError(f"cannot upload the deploy agent to {where}: {_last_line(err)}")
            self.reporter.log(f"uploaded the deploy agent to {where}:{agent}")
        return agent

    def call(
        self,
        command: str,
        request: dict[str, Any],
        send_more: Callable[[BinaryIO], None] | None = None,
    ) -> Any:
        """Run the agent's ``command``; its log and state changes go to the reporter as
        they come; returns its result or raises its error."""
        answer: dict[str, Any] = {}

        def on_line(line: str) -> None:
            try:
                message = json.loads(line)
            except ValueError:
                message = {"log": line}
            if not isinstance(message, dict):
                self.reporter.log(line)
            elif "log" in message:
                self.reporter.log(str(message["log"]))
            elif "changed" in message:
                state, release, reason = message["changed"]
                self.reporter.changed(state, release, reason)
            else:
                answer.update(message)

        def send(stream: BinaryIO) -> None:
            stream.write(json.dumps(request).encode() + b"\n")
            if send_more is not None:
                send_more(stream)

        command_line = f"{shlex.quote(self.python)} {shlex.quote(self.path)} {command}"
        code, _, err = self.session.run(command_line, send, on_line)
        if "error" in answer:
            raise DeployError(str(answer["error"]))
        if "result" in answer:
            return answer["result"]
        where = self.address.where
        if code == -1:
            raise DeployError(
                f"the connection to {where} was lost during {command}; a deploy goes on "
                "there: see conveyor deploy status"
            )
        raise DeployError(f"the deploy agent on {where} failed ({command}): {_last_line(err)}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
