"""``conveyor repo add|list|remove|service``: the repositories the server builds.

It uses the server's own settings (``CONVEYOR_DATA``, ``DATABASE_URL``) and
database, so it works whether or not the server is running. Adding a local bare
repository installs its ``post-receive`` hook, which notifies ``CONVEYOR_URL``;
a URL is polled (``--poll``), and can also send webhooks to ``/hooks/<forge>/<name>``.
"""

from __future__ import annotations

import argparse
import os
import sys

from conveyor.cli import EXIT_INVALID, EXIT_OK


class RepoCommandError(Exception):
    """Bad input or a repository that cannot be used: printed as one line, exit 2."""


def repo_command(args: argparse.Namespace) -> int:
    try:
        _set_up_django(args.data)
        action = {"add": _add, "list": _list, "remove": _remove, "service": _service}[
            args.repo_command
        ]
        action(args)
    except RepoCommandError as error:
        print(f"conveyor repo: {error}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def _set_up_django(data: str | None) -> None:
    if data:
        os.environ["CONVEYOR_DATA"] = os.path.abspath(os.path.expanduser(data))
    os.environ["DJANGO_SETTINGS_MODULE"] = "conveyor.server.settings"
    from conveyor.server.conf import SettingError

    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import OperationalError

        from conveyor.server.database import startup_lock

        try:
            # The server may never have run on this data directory yet (nor may any
            # server sharing its PostgreSQL database, which may be starting right now).
            with startup_lock():
                call_command("migrate", interactive=False, verbosity=0)
        except OperationalError as error:
            raise RepoCommandError(f"cannot use the database: {error}") from None
    except SettingError as error:
        raise RepoCommandError(str(error)) from None


def _add(args: argparse.Namespace) -> None:
    from django.conf import settings

    from conveyor.server.repos.adding import RepositoryExists, RepositoryRefused, add_repository

    name = args.name
    if args.poll is not None and args.poll < 0:
        raise RepoCommandError(f"--poll {args.poll}: must be 0 (never) or more seconds")
    base_url = settings.CONVEYOR_URL
    try:
        repository, setup = add_repository(
            name,
            args.location,
            base_url=base_url,
            default_branch=args.branch,
            poll_interval=args.poll,
        )
    except RepositoryExists as exists:
        raise RepoCommandError(
            f"{exists.message} (remove it first with `conveyor repo remove {name}`)"
        ) from None
    except RepositoryRefused as refused:
        raise RepoCommandError(refused.message) from None
    print(f"Added repository {name} ({repository.url}), default branch {repository.default_branch}")
    if setup.hook is not None:
        print(f"  post-receive hook: {setup.hook}")
        print(f"  pushes notify {base_url}/hooks/local/{name}")
    if repository.poll_interval:
        print(f"  polled every {repository.poll_interval} s")
    if not repository.is_local:
        print(f"  webhooks: {base_url}/hooks/{{github,gitlab,gitea,generic}}/{name}")
        print(f"  webhook secret: {repository.webhook_secret}")
    print(f"  {setup.refs_seen} branch(es) and tag(s) taken as seen; new pushes start runs")


def _list(args: argparse.Namespace) -> None:
    from conveyor.server.repos.models import Repository

    repositories = list(Repository.objects.order_by("name"))
    if not repositories:
        print("No repositories yet: add one with `conveyor repo add NAME PATH_OR_URL`.")
        return
    rows = [("NAME", "TRIGGER", "BRANCH", "URL")]
    for repository in repositories:
        triggers = ["hook"] if repository.is_local else ["webhooks"]
        if repository.poll_interval:
            triggers.append(f"poll {repository.poll_interval}s")
        rows.append(
            (repository.name, ", ".join(triggers), repository.default_branch, repository.url)
        )
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)]
        print("  ".join([*cells, row[3]]))


def _remove(args: argparse.Namespace) -> None:
    from conveyor.server.repos.hooks.install import HookError
    from conveyor.server.repos.hooks.setup import tear_down_triggers
    from conveyor.server.repos.models import Repository

    repository = Repository.objects.filter(name=args.name).first()
    if repository is None:
        known = ", ".join(Repository.objects.order_by("name").values_list("name", flat=True))
        raise RepoCommandError(
            f"no repository named {args.name!r}" + (f" (there are: {known})" if known else "")
        )
    try:
        hook_removed = tear_down_triggers(repository)
    except HookError as error:
        raise RepoCommandError(str(error)) from None
    runs = repository.runs.count()
    repository.delete()
    print(f"Removed repository {args.name} and its {runs} run(s)")
    if hook_removed:
        print("  post-receive hook removed (the hook it replaced, if any, is back)")


def _service(args: argparse.Namespace) -> None:
    """Set, remove or list where a repository's workflow services run."""
    from django.db import transaction

    from conveyor.engine.services import parse_service_assignment
    from conveyor.server.repos.models import Repository, ServiceMapping

    repository = Repository.objects.filter(name=args.name).first()
    if repository is None:
        raise RepoCommandError(f"no repository named {args.name!r}")
    wanted = []
    for text in args.mappings:
        try:
            wanted.append(parse_service_assignment(text))
        except ValueError as error:
            raise RepoCommandError(f"service {error}") from None
    with transaction.atomic():
        for service, address in wanted:
            ServiceMapping.objects.update_or_create(
                repository=repository, name=service, defaults={"address": str(address)}
            )
            print(f"{args.name}: service {service} is reached at {address}")
        for service in args.remove:
            deleted, _ = repository.service_mappings.filter(name=service).delete()
            if not deleted:
                raise RepoCommandError(f"repository {args.name!r} maps no service {service!r}")
            print(f"{args.name}: service {service} is no longer mapped")
    if not wanted and not args.remove:
        mappings = list(repository.service_mappings.order_by("name"))
        if not mappings:
            print(
                f"{args.name} maps no services: `conveyor repo service {args.name} "
                "postgres=127.0.0.1:5432` maps one"
            )
        for mapping in mappings:
            print(f"{mapping.name}={mapping.address}")
