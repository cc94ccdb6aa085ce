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


def big_output_command(megabytes: int) -> tuple[str, int, int]:
    """A step printing at least `megabytes` MB of lines: the command, its exact output size
    in bytes and its number of lines."""
    last = seq_last_for_bytes(megabytes * 1_000_000)
    return f"seq 1 {last}", seq_bytes(last), last


def conveyor_workflow(name: str, command: str) -> str:
    """A `.conveyor.yml`: one job of one step, run on every push to any branch."""
    quoted = command.replace("'", "''")
    return f"name: {name}\non: push\nsteps:\n  - name: step\n    run: '{quoted}'\n"
