"""Deploying to an ``ssh://user@host[:port]/path`` target: this machine's end.

The deploy's work happens on the target (manage.py, gunicorn and the proxy run there),
by the same ``conveyor.deploy`` code a local target uses, not by commands sent one by
one. Over one SSH connection:

1. ``python3 -c BOOT`` checks the target's python and that the path is writable, then
   runs the agent (this package as a zipapp, ``agent_bundle``) from
   ``<path>/.conveyor/agent/<hash>.pyz`` in the same process; when the target does not
   have that exact one yet, it says so, and the agent is uploaded first;
2. the agent gets a JSON request line, for a deploy followed by the project's files as
   a tar stream (links sent as links), and answers JSON lines that become the same
   Reporter calls (log, changed) a local deploy makes.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import fields
from typing import TYPE_CHECKING, Any, BinaryIO

from conveyor.deploy import agent_bundle, deployer, releases
from conveyor.deploy.ssh_target import SshAddress, SshOptions
from conveyor.deploy.state import DeployError

if TYPE_CHECKING:
    from conveyor.deploy.ssh_session import RemoteCommand

# Started by `python3 -c` with the target path, the agent's path and the command: checks
# the target, then runs the agent in this same process (one python start, one SSH exec).
# Written for any python3: an old one must say it is too old. Its first line says
# whether the agent runs ({"ready": true}) or why not ({"error"} or {"missing": true}).
_BOOT = r"""
import json, os, sys
target, agent, command = sys.argv[1:4]
def say(**data):
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()
def refuse(**data):
    say(**data)
    sys.exit(1)
if sys.version_info < (3, 11):
    refuse(error="python3 on the target is %d.%d: the deploy needs 3.11 or later"
           % sys.version_info[:2])
try:
    os.makedirs(os.path.dirname(agent), mode=0o700, exist_ok=True)
except OSError as error:
    refuse(error="cannot write to %s: %s" % (target, error.strerror))
for path in (target, os.path.dirname(agent)):
    if not os.access(path, os.W_OK):
        refuse(error="cannot write to %s: permission denied" % path)
if not os.path.isfile(agent):
    refuse(missing=True)
say(ready=True)
sys.path.insert(0, agent)
from conveyor.deploy.agent import main
sys.exit(main([command]))
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
# What the agent is not told as settings (the key, above all, never travels).
_NOT_SETTINGS = {"target", "project_dir", "archive", "files", "sha", "ssh"}


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
    if settings.archive is not None:
        send, what = _archive_sender(settings.archive), f"the project's archive {settings.archive}"
    else:
        shared = deployer.DEFAULT_SHARED if settings.shared is None else settings.shared
        names = releases.deployed_files(settings.project_dir, shared, settings.files)
        send, what = _project_sender(settings.project_dir, names), f"{len(names)} files"
    request = {
        "target": address.path,
        "settings": {
            field.name: getattr(settings, field.name)
            for field in fields(settings)
            if field.name not in _NOT_SETTINGS
        },
        "sha": deployer.project_sha(settings),
        "env": forwarded_env(env),
    }
    with _Agent(address, settings.ssh, settings.python or "python3", reporter) as agent:
        reporter.log(f"sending {what} to {address.where}")
        result = agent.call("deploy", request, send)
    return deployer.DeployResult(**result)


def rollback(
    target: str,
    bind: str,
    reporter: deployer.Reporter,
    env: dict[str, str],
    to: str | None,
    reason: str | None,
    health_timeout: float,
    ssh: SshOptions | None,
) -> deployer.DeployResult:
    address = SshAddress.parse(target)
    request = {
        "target": address.path,
        "bind": bind,
        "to": to,
        "reason": reason,
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


def _archive_sender(path: str) -> Callable[[BinaryIO], None]:
    """Writes the tar the caller made, as it is (the target unpacks it with care)."""

    def send(stream: BinaryIO) -> None:
        try:
            with open(path, "rb") as archive:
                shutil.copyfileobj(archive, stream)
        except OSError as error:
            raise DeployError(f"cannot send the project archive {path}: {error}") from None

    return send


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
                    try:
                        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                        with os.fdopen(descriptor, "rb") as file:
                            archive.addfile(info, file)
                    except OSError as error:  # unreadable, or changed while being sent
                        raise DeployError(f"cannot send {name}: {error}") from None

    return send


class _Agent:
    """A connection to the target; ``call`` runs one command of the agent there."""

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
        digest, self.bundle = agent_bundle.bundle()
        self.path = f"{address.path}/.conveyor/agent/{digest}.pyz"

    def __enter__(self) -> _Agent:
        from conveyor.deploy import ssh_session

        self.session = ssh_session.connect(self.address, self.options)
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    def call(
        self,
        command: str,
        request: dict[str, Any],
        send_more: Callable[[BinaryIO], None] | None = None,
    ) -> Any:
        """Run the agent's ``command`` (uploading the agent first if the target does not
        have this one); its log and state changes go to the reporter as they come;
        returns its result or raises its error."""
        started = self._start(command)
        if started is None:
            self._upload()
            started = self._start(command)
            if started is None:
                raise DeployError(f"the deploy agent vanished from {self.address.where}")
        running, lines = started

        def send(stream: BinaryIO) -> None:
            stream.write(json.dumps(request).encode() + b"\n")
            if send_more is not None:
                framed = Framed(stream)
                send_more(framed)  # type: ignore[arg-type]
                framed.end()

        running.send(send)
        answer: dict[str, Any] = {}
        for line in lines:
            message = _message(line)
            if "log" in message:
                self.reporter.log(str(message["log"]))
            elif "changed" in message:
                state, release, reason = message["changed"]
                self.reporter.live_host = str(message.get("host") or "")
                self.reporter.changed(state, release, reason)
            else:
                answer.update(message)
        code, err = running.finish()
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

    def _start(self, command: str) -> tuple[RemoteCommand, Iterator[str]] | None:
        """The agent started and ready for its request; None: the target lacks it."""
        argv = [self.python, "-c", _BOOT, self.address.path, self.path, command]
        running = self.session.start(" ".join(shlex.quote(arg) for arg in argv))
        lines = running.lines()
        first = _message(next(lines, ""))
        if first.get("ready"):
            return running, lines
        code, err = running.finish()
        where = self.address.where
        if code == 127 or (not first and "not found" in err):
            raise DeployError(
                f"no {self.python} on {where}: install Python 3.11 or later there "
                "(or name its interpreter with the python input)"
            )
        if "error" in first:
            raise DeployError(f"{where}: {first['error']}")
        if first.get("missing"):
            return None
        raise DeployError(f"{self.python} on {where} failed: {_last_line(err)}")

    def _upload(self) -> None:
        argv = [self.python, "-c", _UPLOAD, self.path]
        code, err = self.session.run(
            " ".join(shlex.quote(arg) for arg in argv),
            send=lambda stream: stream.write(self.bundle),
        )
        if code != 0:
            where = self.address.where
            raise DeployError(f"cannot upload the deploy agent to {where}: {_last_line(err)}")
        self.reporter.log(f"uploaded the deploy agent to {self.address.where}:{self.path}")


class Framed:
    """A writer that frames what it is given (each chunk after its length, in hex, on a
    line; a 0 at the end), so the agent knows a whole stream from one cut short."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def write(self, data: bytes) -> int:
        if data:
            self._stream.write(b"%x\n" % len(data) + data)
        return len(data)

    def end(self) -> None:
        self._stream.write(b"0\n")


def _message(line: str) -> dict[str, Any]:
    """One line of the agent's: its JSON object; anything else is a line of its log."""
    try:
        message = json.loads(line)
    except ValueError:
        return {"log": line} if line else {}
    return message if isinstance(message, dict) else {"log": line}


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
