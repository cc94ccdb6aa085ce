"""``conveyor worker``: run the jobs a scaled-out server sends (docs: issue 10).

Start-up: the settings (``CONVEYOR_BROKER_URL``, ``CONVEYOR_SERVER_URL``,
``CONVEYOR_WORKER_TOKEN``) and the flags checked; the worker's directory locked
(one worker per directory); what a killed worker left there ended (its steps'
processes, its workspaces); the sandbox checked; then the Celery worker runs until
SIGTERM or SIGINT, which let the running jobs finish.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from conveyor.cli import EXIT_INVALID

PROGRAM = "conveyor worker"


def worker_command(args: argparse.Namespace) -> int:
    from conveyor.worker.config import ConfigError, read_config

    try:
        config = read_config(
            concurrency=args.concurrency,
            labels=args.labels,
            name=args.name,
            directory=args.dir,
            sandbox=not args.no_sandbox,
        )
    except ConfigError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return EXIT_INVALID
    from conveyor.worker.leftovers import (
        DirectoryBusy,
        end_leftover_processes,
        lock_worker_directory,
    )

    try:
        lock_worker_directory(config.directory)
    except DirectoryBusy as busy:
        holder = f"pid {busy.pid}" if busy.pid else "its pid not recorded yet"
        print(
            f"{PROGRAM}: another worker ({holder}) uses the directory {config.directory}; "
            "give this one its own --dir",
            file=sys.stderr,
        )
        return EXIT_INVALID
    except OSError as error:
        print(f"{PROGRAM}: cannot use the directory {config.directory}: {error}", file=sys.stderr)
        return EXIT_INVALID
    end_leftover_processes(config.directory)
    for leftover in (config.workspaces_dir, config.artifacts_dir):
        shutil.rmtree(leftover, ignore_errors=True)  # what a killed worker's jobs left
    config.workspaces_dir.mkdir(parents=True, exist_ok=True)
    if config.sandbox and os.geteuid() == 0:
        # Root lends the jobs another user, who passes through to its workspaces.
        config.directory.chmod(0o711)
        config.workspaces_dir.chmod(0o711)
    else:
        config.directory.chmod(0o700)
    from conveyor.executors.sandbox import SandboxUnavailable
    from conveyor.worker.sandboxing import NO_SANDBOX_WARNING, choose

    try:
        sandbox = choose(config.sandbox, config.workspaces_dir)
    except SandboxUnavailable as error:
        print(
            f"{PROGRAM}: jobs cannot be sandboxed here: {error} (--no-sandbox runs them "
            "unsandboxed, for trusted workflows only)",
            file=sys.stderr,
        )
        return EXIT_INVALID
    if not config.sandbox:
        print(f"{PROGRAM}: WARNING: {NO_SANDBOX_WARNING}", file=sys.stderr, flush=True)
    print(
        f"{PROGRAM}: {config.name} with {config.concurrency} job(s) at once, labels "
        f"{', '.join(config.labels)}; server {config.server_url}; directory {config.directory}",
        file=sys.stderr,
        flush=True,
    )
    from conveyor.worker.celery_worker import run_worker

    return run_worker(config, sandbox)
