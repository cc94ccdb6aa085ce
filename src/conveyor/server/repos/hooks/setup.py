"""Setting a repository up for triggers when it is added, and cleaning up when it is removed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from conveyor.server import instance
from conveyor.server.repos import ref_state
from conveyor.server.repos.hooks.install import install_hook, remove_hook
from conveyor.server.repos.models import Repository

DEFAULT_REMOTE_POLL_SECONDS = 60


@dataclass(frozen=True)
class TriggerSetup:
    hook: Path | None  # the post-receive hook written, for a local repository
    refs_seen: int  # branches and tags taken as already seen


def set_up_triggers(repository: Repository, base_url: str) -> TriggerSetup:
    """Install the post-receive hook (local bare repositories) and take today's refs as seen.

    Raises ``HookError`` (hook) or ``git.GitError`` (refs) with a message to show.
    """
    from conveyor.server.repos.polling import current_refs

    hook = None
    if repository.is_local:
        hook = install_hook(
            Path(repository.url),
            name=repository.name,
            base_url=base_url,
            secret=repository.webhook_secret,
            url_file=_followed_url_file(base_url),
        )
    refs = current_refs(repository)
    ref_state.record_all(repository.id, refs)
    return TriggerSetup(hook=hook, refs_seen=len(refs))


def _followed_url_file(base_url: str) -> Path | None:
    """The file the hook reads the server's URL from at each push, so that a server
    restarted on another port needs no new hook; None when ``CONVEYOR_URL`` chose a
    URL other than the one the server records (a proxy in front of it, say)."""
    from django.conf import settings

    data = Path(settings.DATA_DIR)
    chosen = os.environ.get("CONVEYOR_URL", "").strip()
    if chosen and base_url.rstrip("/") != instance.recorded_url(data):
        return None
    return instance.url_file(data)


def tear_down_triggers(repository: Repository) -> bool:
    """Remove our hook (restoring the one it chained to); True if there was one."""
    if not repository.is_local:
        return False
    return remove_hook(Path(repository.url))
