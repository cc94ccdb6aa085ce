"""Adding a repository: the one path behind ``conveyor repo add`` and ``POST /api/repositories``."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction

from conveyor.server.repos import git
from conveyor.server.repos.hooks.install import HookError, bare_repository
from conveyor.server.repos.hooks.setup import (
    DEFAULT_REMOTE_POLL_SECONDS,
    TriggerSetup,
    set_up_triggers,
)
from conveyor.server.repos.models import Repository

NAME_MAX = 100
NAME_PATTERN = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_-]{{0,{NAME_MAX - 1}}}$")


class RepositoryRefused(Exception):
    """A repository that cannot be added; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class RepositoryExists(RepositoryRefused):
    def __init__(self, name: str) -> None:
        super().__init__("name", f"a repository named {name!r} already exists")


def check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise RepositoryRefused(
            "name",
            f"{name!r} is not a repository name: use letters, digits, - and _ "
            f"(at most {NAME_MAX}, starting with a letter or digit)",
        )


def add_repository(
    name: str,
    location: str,
    *,
    base_url: str,
    default_branch: str | None = None,
    poll_interval: int | None = None,
    require_fork_approval: bool = True,
) -> tuple[Repository, TriggerSetup]:
    """Save the repository and set up its triggers, or raise ``RepositoryRefused``.

    A local bare repository gets the post-receive hook and polls only if asked; a
    URL is polled every ``DEFAULT_REMOTE_POLL_SECONDS`` unless ``poll_interval``
    says otherwise (0: never). Today's branches and tags count as seen.
    """
    check_name(name)
    if Repository.objects.filter(name=name).exists():
        raise RepositoryExists(name)
    repository = Repository(name=name, url=location, require_fork_approval=require_fork_approval)
    if repository.is_local:
        _refuse_inside_data(Path(location))
        try:
            repository.url = str(bare_repository(location))
        except HookError as error:
            raise RepositoryRefused("url", str(error)) from None
        repository.default_branch = default_branch or _head_branch(repository.url) or "main"
        repository.poll_interval = poll_interval or None
    else:
        if location.startswith("file://"):
            _refuse_inside_data(Path(unquote(urlsplit(location).path)))
        repository.default_branch = default_branch or "main"
        poll = DEFAULT_REMOTE_POLL_SECONDS if poll_interval is None else poll_interval
        repository.poll_interval = poll or None
    try:
        with transaction.atomic():
            repository.save()
    except IntegrityError:
        raise RepositoryExists(name) from None
    try:
        setup = set_up_triggers(repository, base_url)
    except (HookError, git.GitError) as error:
        repository.delete()
        raise RepositoryRefused("url", f"cannot add {name}: {error}") from None
    return repository, setup


def _refuse_inside_data(path: Path) -> None:
    """The data directory holds the server's keys, database, mirrors and workspaces: a
    repository there would have its hook written into, and its contents built from,
    the server's own files (a workspace or a mirror is not a repository to add)."""
    data = Path(settings.DATA_DIR).resolve()
    where = path.expanduser().resolve()
    if where == data or where.is_relative_to(data):
        raise RepositoryRefused(
            "url",
            f"{where} is inside the server's data directory ({data}): "
            "add a repository kept elsewhere",
        )


def _head_branch(path: str) -> str:
    try:
        return git.run_git(path, "symbolic-ref", "--short", "-q", "HEAD").decode().strip()
    except git.GitError:
        return ""
