"""What the server benchmark's steps run: the same shell commands on conveyor and on Buildbot."""

from __future__ import annotations

from pathlib import Path

from workloads import seq_bytes, seq_last_for_bytes  # bench/workloads.py

BURST_COMMAND = "true"


def stamp_command(stamps: Path) -> str:
    """The latency step: the wall-clock time it starts, into a file named after the commit.

    `date` runs first, before git is asked for the commit, so the stamp is as close to
    the step's start as a shell allows.
    """
    return f't=$(date +%s.%N); echo "$t" > "{stamps}/$(git rev-parse HEAD)"'


def network_stamp_command(port: int) -> str:
    """The latency step for a sandboxed job, which sees no host directory: the same stamp,
    sent as "<commit> <time>" to a ``StampCollector`` on 127.0.0.1 (bash's /dev/tcp, so
    no program is started for it)."""
    return (
        f't=$(date +%s.%N); echo "$(git rev-parse HEAD) $t" > /dev/tcp/127.0.0.1/{port}'
    )


class StampCollector:
    """Receives network stamps and writes each as the file ``stamp_command`` would have
    written, so the latency loop reads both kinds alike."""

    def __init__(self, stamps: Path) -> None:
        import socket
        import threading

        self.stamps = stamps
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="stamps", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return  # closed
            with connection:
                data = b""
                while chunk := connection.recv(4096):
                    data += chunk
            sha, _, moment = data.decode("ascii", "replace").strip().partition(" ")
            if sha and moment:
                partial = self.stamps / f".{sha}.partial"
                partial.write_text(moment)
                partial.rename(self.stamps / sha)

    def close(self) -> None:
        import socket

        # close() alone leaves the thread blocked in accept() on the fd's number; once a
        # later socket reuses that number, the stale thread steals its connections.
        # shutdown() wakes accept() (EINVAL on Linux), so the thread ends first.
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._thread.join(timeout=5)
        self._socket.close()


def big_output_command(megabytes: int) -> tuple[str, int, int]:
    """A step printing at least `megabytes` MB of lines: the command, its exact output size
    in bytes and its number of lines."""
    last = seq_last_for_bytes(megabytes * 1_000_000)
    return f"seq 1 {last}", seq_bytes(last), last


def conveyor_workflow(name: str, command: str) -> str:
    """A `.conveyor.yml`: one job of one step, run on every push to any branch."""
    quoted = command.replace("'", "''")
    return f"name: {name}\non: push\nsteps:\n  - name: step\n    run: '{quoted}'\n"
