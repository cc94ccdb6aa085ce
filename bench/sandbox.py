"""What the job sandbox costs: per job and per step, with and without it, side by side.

    .venv/bin/python bench/sandbox.py [--jobs 40] [--steps 200]

Per job: ``prepare_job`` + ``close`` of an empty job (the sandbox starts and ends the
job's namespace holder). Per step: one ``true`` step on a prepared job (the sandbox
starts a ``bwrap`` that joins the job's namespaces). Rounds alternate between the
executors so that the machine's noise falls on both; medians and their ratio are
printed. As root the sandbox runs as ``nobody``, as the server does.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from conveyor.executors.base import StepCommand
from conveyor.executors.local import LocalExecutor
from conveyor.executors.sandbox import SandboxExecutor, SandboxPolicy, check_available


def _policy(place: Path) -> SandboxPolicy:
    run_as = None
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        run_as = (nobody.pw_uid, nobody.pw_gid)
    return SandboxPolicy(run_as=run_as, state_dir=str(place / "jobs"))


def _per_job(executor: object, workspace: str) -> float:
    started = time.perf_counter()
    host = executor.prepare_job("bench", workspace)  # type: ignore[attr-defined]
    host.close()
    return time.perf_counter() - started


def _per_step(host: object, workspace: str) -> float:
    command = StepCommand(
        argv=["true"], cwd=workspace, env={"PATH": "/usr/bin:/bin"}, on_output=lambda _: None
    )
    started = time.perf_counter()
    exit_ = host.run(command)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - started
    assert exit_.exit_code == 0, exit_
    return elapsed


def _alternate(rounds: int, plain: Callable[[], float], boxed: Callable[[], float]) -> tuple:
    plain_times, boxed_times = [], []
    for _ in range(rounds):
        plain_times.append(plain())
        boxed_times.append(boxed())
    return statistics.median(plain_times), statistics.median(boxed_times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    place = Path(tempfile.mkdtemp(prefix="conveyor-bench-sandbox-"))
    place.chmod(0o711)
    workspace = place / "workspace"
    workspace.mkdir()
    try:
        policy = _policy(place)
        local, sandbox = LocalExecutor(), SandboxExecutor(policy, check_available(policy))
        job_plain, job_boxed = _alternate(
            args.jobs,
            lambda: _per_job(local, str(workspace)),
            lambda: _per_job(sandbox, str(workspace)),
        )
        plain_host = local.prepare_job("bench", str(workspace))
        boxed_host = sandbox.prepare_job("bench", str(workspace))
        try:
            step_plain, step_boxed = _alternate(
                args.steps,
                lambda: _per_step(plain_host, str(workspace)),
                lambda: _per_step(boxed_host, str(workspace)),
            )
        finally:
            plain_host.close()
            boxed_host.close()
    finally:
        shutil.rmtree(place, ignore_errors=True)
    print("| what | local | sandbox | sandbox's extra | ratio |")
    print("|---|---|---|---|---|")
    for label, plain, boxed in (
        ("per job (prepare + close)", job_plain, job_boxed),
        ("per step (`true`)", step_plain, step_boxed),
    ):
        print(
            f"| {label} | {plain * 1000:.2f} ms | {boxed * 1000:.2f} ms | "
            f"{(boxed - plain) * 1000:+.2f} ms | {boxed / plain:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
