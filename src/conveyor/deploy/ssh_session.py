"""One SSH connection to a deploy target (paramiko), and commands run over it.

Why paramiko: a blocking API fits the deployer, which is blocking code run from a job's
thread; asyncssh would need an event loop of its own per deploy. It is imported here
only, and this module only when an ssh:// target is used, so ``conveyor run`` does not
pay for it at start-up.

Every failure to connect is one DeployError line saying what to do, never a traceback:
unreachable, a host key that is unknown or changed (unknown keys are refused, there is
no trust on first use), a key the server refused."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from conveyor.deploy.ssh_target import SshAddress, SshOptions
from conveyor.deploy.state import DeployError


class _UnknownHostKey(Exception):
    def __init__(self, key: Any) -> None:
        super().__init__("unknown host key")
        self.key = key


def fingerprint(key: Any) -> str:
    """A key's SHA256 fingerprint, as ``ssh-keygen -l`` prints it."""
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


class _ChannelClosed(Exception):
    """The command stopped reading its stdin (it ended): its output says why."""


class ChannelWriter:
    """A file-like writer onto a channel's stdin (what ``tarfile`` streams into)."""

    def __init__(self, channel: Any) -> None:
        self._channel = channel

    def write(self, data: bytes) -> int:
        import paramiko

        try:
            self._channel.sendall(data)
        except (OSError, EOFError, paramiko.SSHException) as error:
            raise _ChannelClosed() from error
        return len(data)


class RemoteCommand:
    """A command running on the target: its stdout read line by line as it comes, its
    stdin written, its stderr gathered meanwhile (so that neither stream blocks it)."""

    def __init__(self, channel: Any) -> None:
        self._channel = channel
        self._stdout = channel.makefile("rb")
        self._errors: list[bytes] = []
        self._drain = threading.Thread(
            target=lambda: self._errors.append(channel.makefile_stderr("rb").read()), daemon=True
        )
        self._drain.start()

    def lines(self) -> Iterator[str]:
        for raw in self._stdout:
            yield raw.decode("utf-8", errors="replace").rstrip("\r\n")

    def send(self, write: Callable[[BinaryIO], None] | None) -> None:
        """Its stdin: what ``write`` writes, then end of file. A command that ends before
        reading it all is no error here (its output says why); ``write``'s own are."""
        import paramiko

        try:
            if write is not None:
                write(ChannelWriter(self._channel))  # type: ignore[arg-type]
        except _ChannelClosed:
            return
        try:
            self._channel.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            pass

    def finish(self) -> tuple[int, str]:
        """(its exit status, -1 when the connection was lost first; its stderr)."""
        try:
            status = self._channel.recv_exit_status()
        finally:
            self._drain.join()
            self._channel.close()
        return status, b"".join(self._errors).decode("utf-8", errors="replace")


class SshSession:
    """An open connection to ``address``; ``start`` and ``run`` run commands over it."""

    def __init__(self, client: Any, address: SshAddress) -> None:
        self._client = client
        self.address = address

    def start(self, command: str) -> RemoteCommand:
        """``command`` started on the target (through the login user's shell)."""
        import paramiko

        try:
            channel = self._client.get_transport().open_session()
            channel.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError, AttributeError) as error:
            raise DeployError(f"ssh {self.address.where}: {error or 'connection lost'}") from None
        return RemoteCommand(channel)

    def run(self, command: str, send: Callable[[BinaryIO], None] | None = None) -> tuple[int, str]:
        """``command`` run to its end, ``send`` writing its stdin: (exit status, stderr)."""
        started = self.start(command)
        started.send(send)
        for _ in started.lines():
            pass
        return started.finish()

    def close(self) -> None:
        self._client.close()


def connect(address: SshAddress, options: SshOptions | None) -> SshSession:
    """A connection to ``address``, its host key checked against the pinned ones."""
    import paramiko

    options = options or SshOptions()
    client = paramiko.SSHClient()
    _load_host_keys(client, options)
    client.set_missing_host_key_policy(_RefuseUnknown())
    key = _private_key(options.key) if options.key else None
    key_file = os.path.expanduser(options.key_file) if options.key_file else None
    if key_file and not os.path.isfile(key_file):
        raise DeployError(f"--ssh-key {options.key_file}: no such file")
    given = key is not None or key_file is not None
    where = address.where
    host = address.host if address.port == 22 else f"[{address.host}]:{address.port}"
    try:
        client.connect(
            address.host,
            port=address.port,
            username=address.user or None,
            pkey=key,
            key_filename=key_file,
            allow_agent=not given,
            look_for_keys=not given,
            timeout=options.connect_timeout,
            banner_timeout=options.connect_timeout,
            auth_timeout=options.connect_timeout,
        )
    except _UnknownHostKey as unknown:
        client.close()
        raise DeployError(
            f"the host key of {host} ({fingerprint(unknown.key)}) is not known, refused: "
            f"pin it with ssh-known-hosts (--known-hosts FILE) or in ~/.ssh/known_hosts, "
            f"e.g. the line 'ssh-keyscan -p {address.port} {address.host}' prints, "
            "once checked against the server's own fingerprint"
        ) from None
    except paramiko.BadHostKeyException as bad:
        client.close()
        raise DeployError(
            f"the host key of {host} ({fingerprint(bad.key)}) is not "
            "the pinned one, refused: the server changed or someone is in between; if its "
            "key was replaced, pin the new one in ssh-known-hosts"
        ) from None
    except paramiko.PasswordRequiredException:
        client.close()
        raise DeployError("the ssh key is protected by a passphrase: give one without") from None
    except paramiko.AuthenticationException as error:
        client.close()
        which = "the ssh key" if given else "the ssh agent's and ~/.ssh's keys"
        raise DeployError(f"{where} refused {which} ({error})") from None
    except TimeoutError:
        client.close()
        waited = f"no answer in {options.connect_timeout:g}s"
        raise DeployError(f"cannot reach {where}: {waited}") from None
    except socket.gaierror as error:
        client.close()
        raise DeployError(f"cannot reach {where}: unknown host ({error.strerror})") from None
    except paramiko.ssh_exception.NoValidConnectionsError:
        client.close()
        raise DeployError(f"cannot reach {where}: connection refused") from None
    except (paramiko.SSHException, OSError, EOFError) as error:
        client.close()
        raise DeployError(f"cannot reach {where}: {error or type(error).__name__}") from None
    transport = client.get_transport()
    if transport is not None:
        transport.set_keepalive(30)
    return SshSession(client, address)


class _RefuseUnknown:
    """paramiko's policy hook: a host key found in no known_hosts is refused."""

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        raise _UnknownHostKey(key)


def _load_host_keys(client: Any, options: SshOptions) -> None:
    import paramiko

    keys = client.get_host_keys()
    if options.known_hosts_file:
        path = os.path.expanduser(options.known_hosts_file)
        try:
            keys.load(path)
        except OSError as error:
            raise DeployError(f"--known-hosts {path}: {error.strerror}") from None
    if options.known_hosts:
        for number, line in enumerate(options.known_hosts.splitlines(), 1):
            try:
                entry = paramiko.hostkeys.HostKeyEntry.from_line(line.strip(), number)
            except (paramiko.SSHException, ValueError) as error:
                raise DeployError(f"ssh-known-hosts, line {number}: {error}") from None
            if entry is None:
                if line.strip() and not line.strip().startswith("#"):
                    raise DeployError(f"ssh-known-hosts, line {number}: not a known_hosts line")
                continue
            for name in entry.hostnames:
                keys.add(name, entry.key.get_name(), entry.key)
    if not options.known_hosts and not options.known_hosts_file:
        try:
            client.load_system_host_keys()
        except OSError:
            pass  # no ~/.ssh/known_hosts: every host is unknown, and refused


def _private_key(text: str) -> Any:
    """The key in ``text`` (OpenSSH or PEM; ed25519, ECDSA or RSA), read in memory."""
    import paramiko

    encrypted = False
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text.strip() + "\n"))
        except paramiko.PasswordRequiredException:
            encrypted = True
        except (paramiko.SSHException, ValueError, TypeError, IndexError):
            continue
    if encrypted:
        raise DeployError("the ssh key is protected by a passphrase: give one without")
    raise DeployError("ssh-key is not a private key (OpenSSH or PEM: ed25519, ECDSA or RSA)")
