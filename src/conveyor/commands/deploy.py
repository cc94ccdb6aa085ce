"""``conveyor deploy``, ``conveyor deploy status|stop`` and ``conveyor rollback``: the
deploy-django built-in from the command line (docs/deploy.md)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from conveyor.cli import EXIT_FAILED, EXIT_INVALID, EXIT_OK

if TYPE_CHECKING:
    from conveyor.deploy.ssh_target import SshOptions


def deploy_command(args: argparse.Namespace) -> int:
    from conveyor.deploy.deployer import DeploySettings, Reporter, deploy, status, stop_all
    from conveyor.deploy.state import DeployError

    try:
        if args.deploy_action == "status":
            return _print_status(status(args.target, _ssh_options(args)), args.target)
        if args.deploy_action == "stop":
            for what in stop_all(args.target, args.bind or "", _ssh_options(args)):
                print(f"stopped {what}")
            return EXIT_OK
        if not args.bind:
            print("conveyor deploy: --bind HOST:PORT is required to deploy", file=sys.stderr)
            return EXIT_INVALID
        settings = DeploySettings(
            target=args.target,
            bind=args.bind,
            project_dir=os.path.abspath(args.project_dir),
            health_path=args.health_path,
            keep_releases=args.keep_releases,
            shared=args.shared if args.shared is not None else None,
            allow_irreversible_migrations=args.allow_irreversible_migrations,
            health_timeout=args.health_timeout,
            watch_seconds=args.watch_seconds,
            settings_module=args.settings_module or "",
            wsgi=args.wsgi or "",
            python=args.python or "",
            ssh=_ssh_options(args),
        )
        reporter = Reporter(
            lambda line: print(line, flush=True),
            lambda state, release, reason: print(f"[deploy] {release}: {state}", flush=True),
        )
        result = deploy(settings, reporter, _environment(args))
    except DeployError as error:
        print(f"conveyor deploy: {error}", file=sys.stderr)
        return EXIT_FAILED
    if not result.succeeded:
        print(f"conveyor deploy: {result.state}: {result.reason}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{result.release} is live on {settings.bind}")
    return EXIT_OK


def rollback_command(args: argparse.Namespace) -> int:
    from conveyor.deploy.deployer import Reporter, rollback
    from conveyor.deploy.state import DeployError

    try:
        result = rollback(
            args.target,
            args.bind or "",
            Reporter(lambda line: print(line, flush=True)),
            _environment(args),
            to=args.to,
            ssh=_ssh_options(args),
        )
    except DeployError as error:
        print(f"conveyor rollback: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"rolled back {result.release}")
    return EXIT_OK


def _ssh_options(args: argparse.Namespace) -> SshOptions:
    from conveyor.deploy.ssh_target import SshOptions

    return SshOptions(key_file=args.ssh_key or "", known_hosts_file=args.known_hosts or "")


def _environment(args: argparse.Namespace) -> dict[str, str]:
    """A local target's commands get this shell's environment; an ssh:// target's get
    the target's own (nothing of this machine goes along)."""
    from conveyor.deploy.ssh_target import is_ssh

    return {} if is_ssh(args.target) else dict(os.environ)


def _print_status(rows: list, target: str) -> int:
    if not rows:
        print(f"{target}: no releases")
        return EXIT_OK
    for row in rows:
        server = f"pid {row.pid} on 127.0.0.1:{row.port}" if row.running else "stopped"
        mark = "*" if row.current else " "
        print(f"{mark} {row.name}  {row.state:<12} {server:<28} {row.health}")
    current = next((row.name for row in rows if row.current), None)
    print(f"current: {current or 'none'}")
    return EXIT_OK
