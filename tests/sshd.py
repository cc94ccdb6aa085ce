"""A real OpenSSH server on 127.0.0.1 for the ssh:// deploy tests: its own config, a host
key and client keys made by ssh-keygen, the current user let in by the client key."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.helpers import terminate

SSHD = "/usr/sbin/sshd"  # sshd refuses to start from a relative path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
    )


class Sshd:
    """One sshd -D on a free port; ``client_key`` logs in, ``stranger_key`` does not."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.host_key = directory / "host_ed25519"
        self.client_key = directory / "client_ed25519"
        self.stranger_key = directory / "stranger_ed25519"
        self.other_host_key = directory / "other_host_ed25519"
        for key in (self.host_key, self.client_key, self.stranger_key, self.other_host_key):
            _keygen(key)
        shutil.copy(f"{self.client_key}.pub", directory / "authorized_keys")
        self.port = _free_port()
        self.user = os.environ.get("USER") or _user_name()
        config = directory / "sshd_config"
        config.write_text(
            f"Port {self.port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {self.host_key}\n"
            f"AuthorizedKeysFile {directory}/authorized_keys\n"
            "StrictModes no\n"  # the tmp dir's modes are not sshd's business here
            "UsePAM no\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\n"
            "AllowTcpForwarding no\n"
            "X11Forwarding no\n"
            "PidFile none\n"
        )
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # its privilege separation
        self.log = directory / "sshd.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    if probe.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not listen: {self.log.read_text()}")
            time.sleep(0.05)

    def known_hosts_line(self, key: Path | None = None) -> str:
        """The line that pins ``key`` (default: the server's own) for this address."""
        kind, data = (Path(f"{key or self.host_key}.pub").read_text().split())[:2]
        return f"[127.0.0.1]:{self.port} {kind} {data}\n"

    def target(self, path: Path | str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        terminate(self.process)


def _user_name() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name
