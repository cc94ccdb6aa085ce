"""An ``ssh://user@host[:port]/path`` deploy target: its address and how to log in.

Nothing here imports the SSH library: reading a target's address costs nothing, the
connection (``ssh_session``) is made only when an ssh:// target is deployed to."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from conveyor.deploy.state import DeployError

SCHEME = "ssh://"


def is_ssh(target: str) -> bool:
    return target.startswith(SCHEME)


@dataclass(frozen=True)
class SshAddress:
    user: str  # "" : the local user's name, as ssh does
    host: str
    port: int
    path: str  # absolute, on the target

    @classmethod
    def parse(cls, target: str) -> SshAddress:
        """``ssh://[user@]host[:port]/absolute/path``, or a DeployError saying what is wrong."""
        parsed = urllib.parse.urlsplit(target)
        if parsed.scheme != "ssh" or not parsed.hostname:
            raise DeployError(f"{target}: an ssh target is ssh://[user@]host[:port]/path")
        try:
            port = parsed.port or 22
        except ValueError:
            raise DeployError(f"{target}: the port is not a number from 1 to 65535") from None
        if parsed.password is not None:
            raise DeployError(f"{target}: no password in the target; use ssh-key")
        path = urllib.parse.unquote(parsed.path)
        if not path.startswith("/") or path == "/" or parsed.query or parsed.fragment:
            raise DeployError(
                f"{target}: the target needs an absolute directory after the host, "
                "as in ssh://deploy@example.com/srv/shop"
            )
        return cls(urllib.parse.unquote(parsed.username or ""), parsed.hostname, port, path)

    @property
    def where(self) -> str:
        """user@host:port, as the errors name the machine."""
        user = f"{self.user}@" if self.user else ""
        return f"{user}{self.host}:{self.port}"


@dataclass
class SshOptions:
    """How to log in to an ssh:// target; every field is optional.

    ``key`` is a private key's text (the action's ``ssh-key``, a secret: never logged,
    never written to disk), ``key_file`` a private key's path (``--ssh-key``); without
    either, the ssh agent and ~/.ssh's default keys are tried. ``known_hosts`` is
    known_hosts lines (``ssh-known-hosts``), ``known_hosts_file`` a file of them
    (``--known-hosts``); without either, ~/.ssh/known_hosts. A host key found in none is
    refused: there is no trust on first use."""

    key: str = ""
    key_file: str = ""
    known_hosts: str = ""
    known_hosts_file: str = ""
    connect_timeout: float = 15.0
