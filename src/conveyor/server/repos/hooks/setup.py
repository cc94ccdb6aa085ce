"""Setting a repository up for triggers when it is added, and cleaning up when it is removed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
        )
    refs = current_refs(repository)
    ref_state.record_all(repository.id, refs)
    return TriggerSetup(hook=hook, refs_seen=len(refs))


def tear_down_triggers(repository: Repository) -> bool:
    """Remove our hook (restoring the one it chained to); True if there was one."""
    if not repository.is_local:
        return False
    return remove_hook(Path(repository.url))
