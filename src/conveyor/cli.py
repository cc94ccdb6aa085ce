"""The ``conveyor`` command line.

Start-up time is a feature (``conveyor run`` is measured against act): this module
imports only the standard library at load time; each command imports what it uses.
Exit codes of ``run`` (DESIGN.md): 0 all succeeded, 1 the pipeline failed, 2 the
workflow or the command line is invalid, 130 cancelled by Ctrl-C.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable  # loaded anyway (argparse's re needs collections)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_CANCELLED = 130


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit 2."""


COMMANDS = ("run", "validate", "list", "init", "server", "worker", "repo", "deploy", "rollback")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line. With ``only`` (one of ``COMMANDS``) the other commands are left
    out: each command's parser costs start-up, and a run needs only its own."""
    from conveyor import __version__

    parser = argparse.ArgumentParser(
        prog="conveyor",
        description=(
            "Run GitHub Actions workflows (and a .conveyor.yml list of steps) on this machine."
        ),
    )
    parser.add_argument("--version", action="version", version=f"conveyor {__version__}")
    parser.add_argument(
        "-C", "--directory", default=".", help="run as if started in this directory"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    definitions = {
        "run": _add_run_parser,
        "validate": _add_validate_parser,
        "list": _add_list_parser,
        "init": _add_init_parser,
        "server": _add_server_parser,
        "worker": _add_worker_parser,
        "repo": _add_repo_parser,
        "deploy": _add_deploy_parser,
        "rollback": _add_rollback_parser,
    }
    for name in COMMANDS:
        if only is None or only == name:
            definitions[name](commands)
    return parser


def _add_run_parser(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="run the pipeline for an event (default: push)")
    _add_selection_arguments(run)
    run.add_argument(
        "--job",
        "-j",
        action="append",
        dest="jobs_only",
        metavar="ID",
        help="run only this job (and the jobs it needs); repeatable",
    )
    run.add_argument("--eventpath", metavar="FILE", help="JSON payload of the event (github.event)")
    run.add_argument(
        "--json", action="store_true", help="one JSON event a line on stdout (docs/json-events.md)"
    )
    run.add_argument(
        "--secret",
        "-s",
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="a secret; without =VALUE it is read from the environment",
    )
    run.add_argument("--secret-file", metavar="FILE", help="secrets in dotenv format")
    run.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a configuration variable (the vars context)",
    )
    run.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a workflow_dispatch input",
    )
    run.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 2,
        dest="parallel",
        metavar="N",
        help="jobs run at once (default: the CPU count)",
    )
    run.add_argument(
        "--max-log-mb",
        type=_megabytes_in_bytes,
        default=None,
        metavar="MB",
        help="keep at most this much of each step's output; the rest is dropped (default: all)",
    )
    run.add_argument(
        "--platform",
        "-P",
        action="append",
        default=[],
        metavar="LABEL=host",
        help="run jobs whose runs-on has LABEL on this machine (by default only ubuntu-*, "
        "linux, self-hosted and this machine's architecture run; others are skipped); "
        "repeatable",
    )
    run.add_argument(
        "--matrix",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="run only the matrix legs whose KEY is VALUE (compared as text; jobs whose "
        "matrix has no KEY run all their legs); repeatable",
    )
    run.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="NAME=HOST:PORT[,PORT]",
        help="the workflow's service NAME is the one running at HOST:PORT (no Docker needed); "
        "several ports map the service's ports: in order; repeatable",
    )
    run.add_argument(
        "--config",
        metavar="FILE",
        help="a TOML file whose [services] table maps services as --service does (default: "
        "$XDG_CONFIG_HOME/conveyor/config.toml, if it exists)",
    )
    run.add_argument(
        "--clean",
        action="store_true",
        help="run in a fresh checkout of HEAD instead of the working tree",
    )
    run.add_argument(
        "--sandbox",
        action="store_true",
        help="run each job in a bubblewrap sandbox that sees only the workspace and the "
        "system's directories (as on the server)",
    )
    run.add_argument(
        "--actions-url",
        metavar="URL",
        default=os.environ.get("CONVEYOR_ACTIONS_URL") or "https://github.com",
        help="where `uses: owner/repo@ref` actions are fetched from: URL/owner/repo "
        "(default: $CONVEYOR_ACTIONS_URL, else https://github.com; a mirror, or a "
        "directory of bare repositories)",
    )
    run.add_argument(
        "--list-actions",
        action="store_true",
        help="show what each uses: of the selected jobs is (built-in, composite, JavaScript, "
        "Docker, reusable workflow) and where it resolves, fetching what it must; run nothing",
    )
    run.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="the live, coloured view (auto: when stdout is a terminal)",
    )


def _add_validate_parser(commands: argparse._SubParsersAction) -> None:
    validate = commands.add_parser("validate", help="check workflow files; exit 2 if invalid")
    validate.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="files to check (default: the ones `conveyor run` would find)",
    )


def _add_list_parser(commands: argparse._SubParsersAction) -> None:
    list_ = commands.add_parser("list", help="show the jobs and steps an event would run")
    _add_selection_arguments(list_)


def _add_init_parser(commands: argparse._SubParsersAction) -> None:
    init = commands.add_parser(
        "init",
        help="write a .conveyor.yml fitted to this project",
        description=(
            "Write .conveyor.yml at the repository's root: a Build, Test and Deploy pipeline "
            "fitted to what the project holds (Django's manage.py, pyproject.toml, "
            "package.json, go.mod, Cargo.toml or a Makefile), ready for `conveyor run`."
        ),
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing file")


def _megabytes_in_bytes(text: str) -> int:
    """A positive, finite number of megabytes (MiB), as bytes (at least 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of megabytes") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number more than 0")
    return max(1, int(value * 1024 * 1024))


def _add_repo_parser(commands: argparse._SubParsersAction) -> None:
    repo = commands.add_parser(
        "repo",
        help="add, list or remove the repositories the server builds; map their services",
        description="Manage the server's repositories (the server's settings: CONVEYOR_DATA, "
        "DATABASE_URL). Hooks notify the URL the server of the data directory recorded "
        "when it started (CONVEYOR_URL, if set, is used instead).",
    )
    repo.add_argument("--data", metavar="DIR", help="data directory (sets CONVEYOR_DATA)")
    actions = repo.add_subparsers(dest="repo_command", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add",
        help="add a repository: a local bare one gets a post-receive hook, a URL is polled",
    )
    _add_data_option(add)
    add.add_argument("name", help="short name: letters, digits, - and _ (used in URLs)")
    add.add_argument("location", metavar="PATH_OR_URL", help="a local bare repository or a URL")
    add.add_argument("--branch", help="default branch (default: the repository's HEAD)")
    add.add_argument(
        "--poll",
        type=int,
        metavar="SECONDS",
        help="look for new commits every SECONDS (default: 60 for a URL, none for a local "
        "repository, whose hook reports pushes; 0: never, webhooks only)",
    )
    _add_data_option(actions.add_parser("list", help="list the repositories"))
    remove = actions.add_parser(
        "remove", help="remove a repository, its runs and its post-receive hook"
    )
    remove.add_argument("name")
    _add_data_option(remove)
    service = actions.add_parser(
        "service",
        help="map a repository's workflow services to ones that already run (or list them)",
        description="The server starts no service containers: a workflow's services.<id> is "
        "reached at the address given here (HOST:PORT, or HOST:PORT,PORT for the service's "
        "ports in the order its ports: lists them). Jobs reach it only with the host's "
        "network (CONVEYOR_SANDBOX_NETWORK=true, the default). Without mappings or "
        "--remove, lists the repository's mappings.",
    )
    service.add_argument("name", help="the repository")
    service.add_argument(
        "mappings", nargs="*", metavar="SERVICE=HOST:PORT[,PORT]", help="set these mappings"
    )
    service.add_argument(
        "--remove", action="append", default=[], metavar="SERVICE", help="remove a mapping"
    )
    _add_data_option(service)


def _add_deploy_parser(commands: argparse._SubParsersAction) -> None:
    deploy = commands.add_parser(
        "deploy",
        help="deploy this Django project to a directory, zero-downtime (docs/deploy.md)",
        description="Deploy the project (-C or --project-dir) as conveyor/deploy-django@v1 "
        "does; 'deploy status' and 'deploy stop' show and stop a target's servers.",
    )
    deploy.add_argument(
        "deploy_action", nargs="?", choices=("status", "stop"), help="status or stop a target"
    )
    deploy.add_argument(
        "--target", "-t", required=True, help="the target directory, or ssh://user@host[:port]/path"
    )
    deploy.add_argument("--bind", help="HOST:PORT the proxy serves on")
    deploy.add_argument("--project-dir", default=".", help="the project (default: here)")
    deploy.add_argument("--health-path", default="/", help="the path health checks GET")
    deploy.add_argument("--keep-releases", type=int, default=5, metavar="N")
    deploy.add_argument(
        "--shared", action="append", metavar="PATH", help="a shared path (default media, .env)"
    )
    deploy.add_argument("--allow-irreversible-migrations", action="store_true")
    deploy.add_argument("--health-timeout", type=float, default=30.0, metavar="SECONDS")
    deploy.add_argument("--watch-seconds", type=float, default=10.0, metavar="SECONDS")
    deploy.add_argument("--settings-module", help="DJANGO_SETTINGS_MODULE (default: manage.py's)")
    deploy.add_argument("--wsgi", help="module:callable (default: WSGI_APPLICATION)")
    deploy.add_argument("--python", help="the python the release's virtualenv is made with")
    _add_ssh_options(deploy)


def _add_rollback_parser(commands: argparse._SubParsersAction) -> None:
    rollback = commands.add_parser(
        "rollback", help="serve a target's previous release again (docs/deploy.md)"
    )
    rollback.add_argument(
        "--target", "-t", required=True, help="the target directory, or ssh://user@host[:port]/path"
    )
    rollback.add_argument("--to", metavar="RELEASE", help="this release (default: the previous)")
    rollback.add_argument("--bind", help="HOST:PORT (default: the one the target serves on)")
    _add_ssh_options(rollback)


def _add_ssh_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ssh-key",
        metavar="FILE",
        help="the private key for an ssh:// target (default: the ssh agent, ~/.ssh's keys)",
    )
    parser.add_argument(
        "--known-hosts",
        metavar="FILE",
        help="known_hosts lines pinning the target's host key (default: ~/.ssh/known_hosts)",
    )


def _add_data_option(action: argparse.ArgumentParser) -> None:
    """``--data`` after the action too (``conveyor repo add --data DIR ...``); SUPPRESS
    keeps a ``--data`` given before the action when it is not repeated after it."""
    action.add_argument(
        "--data",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="data directory (sets CONVEYOR_DATA)",
    )


def _add_server_parser(commands: argparse._SubParsersAction) -> None:
    from conveyor.server.conf import SETTINGS

    listing = "\n".join(
        f"  {setting.name:<26} {setting.help}\n  {'':<26} (default: {setting.default})"
        for setting in SETTINGS
    )
    server = commands.add_parser(
        "server",
        help="serve the web UI, the API and the workers (SQLite by default)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"settings (environment variables; the flags above override them):\n{listing}"
        "\n\none server per data directory: it holds <data>/server.lock (with its pid) and "
        "records the URL it listens on in <data>/server_url",
    )
    server.add_argument("--host", default="127.0.0.1", help="address to listen on")
    server.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    server.add_argument("--data", metavar="DIR", help="data directory (sets CONVEYOR_DATA)")
    server.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="embedded worker threads (sets CONVEYOR_WORKERS; default 2)",
    )
    server.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run jobs without the bubblewrap sandbox (sets CONVEYOR_SANDBOX=false): they "
        "can then read the data directory and every secret; only for trusted workflows",
    )


def _add_worker_parser(commands: argparse._SubParsersAction) -> None:
    worker = commands.add_parser(
        "worker",
        help="run jobs a scaled-out server sends through its broker (Celery)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="settings (environment variables):\n"
        "  CONVEYOR_BROKER_URL    the server's broker (redis://HOST:6379/0, amqp://HOST)\n"
        "  CONVEYOR_SERVER_URL    the server's URL (http://HOST:8000)\n"
        "  CONVEYOR_WORKER_TOKEN  the workers' shared token, as the server has it\n"
        "  CONVEYOR_SANDBOX_USER, CONVEYOR_SANDBOX_NETWORK  as for `conveyor server`\n\n"
        "SIGTERM or Ctrl-C: no new job is taken, the running ones finish",
    )
    worker.add_argument(
        "--concurrency", type=int, default=1, metavar="N", help="jobs run at once (default: 1)"
    )
    worker.add_argument(
        "--labels",
        metavar="A,B",
        help="runs-on labels this worker serves besides its system's (linux, x64) and self-hosted",
    )
    worker.add_argument(
        "--name",
        help="this worker's name, NAME@HOST (default: conveyor@HOSTNAME); give each worker "
        "of one machine its own, and its own --dir",
    )
    worker.add_argument(
        "--dir",
        metavar="PATH",
        help="mirrors, workspaces, the action and actions/cache store (default: the user "
        "cache directory's conveyor/worker)",
    )
    worker.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run jobs without the bubblewrap sandbox: they can then read the worker's "
        "directory and each other's workspaces; only for trusted workflows",
    )


def _add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workflow",
        "-W",
        action="append",
        metavar="FILE",
        help="the workflow file to use; repeatable",
    )
    parser.add_argument(
        "--event",
        "-e",
        default="push",
        metavar="NAME",
        help="the event that triggers the run (default: push)",
    )


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    """The function of a command other than ``run``, its module imported."""
    if name == "validate":
        from conveyor.commands.validate import validate_command

        return validate_command
    if name == "list":
        from conveyor.commands.list_jobs import list_command

        return list_command
    if name == "server":
        from conveyor.commands.server import server_command

        return server_command
    if name == "worker":
        from conveyor.commands.worker import worker_command

        return worker_command
    if name == "repo":
        from conveyor.commands.repo import repo_command

        return repo_command
    if name == "deploy":
        from conveyor.commands.deploy import deploy_command

        return deploy_command
    if name == "rollback":
        from conveyor.commands.deploy import rollback_command

        return rollback_command
    from conveyor.commands.init import init_command

    return init_command


def named_command(argv: list[str]) -> str | None:
    """The command ``argv`` names, or None when that is not plain to see (then every
    command's parser is built, as ``--help`` needs)."""
    tokens = iter(argv)
    for token in tokens:
        if token in ("-C", "--directory"):
            next(tokens, None)  # its value
        elif not token.startswith("-"):
            return token if token in COMMANDS else None
    return None


def main(argv: list[str] | None = None) -> int:
    # Start-up makes thousands of objects that live as long as the process (modules,
    # classes, functions): looking for garbage among them is wasted work, ~5% of a
    # run's start-up. Collection is back on before the command does its work.
    gc.disable()
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    finally:
        gc.enable()


def _main(argv: list[str]) -> int:
    command = named_command(argv)
    parser = build_parser(only=command)
    args = parser.parse_args(argv)
    if args.command != command:
        # Read otherwise than expected (an abbreviated option before the command):
        # the whole command line decides.
        parser = build_parser()
        args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_INVALID
    try:
        os.chdir(args.directory)
    except OSError as error:
        print(f"conveyor: cannot enter {args.directory}: {error.strerror}", file=sys.stderr)
        return EXIT_INVALID
    from conveyor.workflow.errors import WorkflowInvalid

    try:
        if args.command == "run":
            from conveyor.engine.git_info import GitReading
            from conveyor.workflow.discovery import find_repository_root

            # git describes the working tree while the engine's modules load.
            root = find_repository_root(os.getcwd())
            with GitReading(root, with_dirty=not args.clean) as git:
                from conveyor.commands.run import run_command

                gc.freeze()  # what start-up made is never looked at again
                gc.enable()
                return run_command(args, git)
        run = _command(args.command)
        gc.enable()
        return run(args)
    except WorkflowInvalid as invalid:
        print(str(invalid), file=sys.stderr)
        from conveyor.commands import plural

        print(f"conveyor: {plural(len(invalid.problems), 'problem')} found", file=sys.stderr)
        return EXIT_INVALID
    except UsageError as error:
        print(f"conveyor: {error}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("conveyor: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except BrokenPipeError:
        # `conveyor run | head`: the reader left; nothing more to say to it.
        sys.stderr.close()
        return EXIT_FAILED
