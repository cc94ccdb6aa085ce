"""Installing and removing the ``post-receive`` hook of a local bare repository.

An existing ``post-receive`` hook that is not ours is kept working: it is renamed
to ``post-receive.before-conveyor`` and our hook runs it first with the same
input; removing our hook renames it back.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conveyor.server.repos.hooks.script import CHAINED_NAME, MARKER, hook_text

HOOK_NAME = "post-receive"


class HookError(Exception):
    """The hook cannot be installed or removed: says where and why."""


def bare_repository(path: str | Path) -> Path:
    """The absolute path of the bare repository at ``path``; ``HookError`` if it is not one."""
    where = Path(path).expanduser()
    if not where.is_dir():
        raise HookError(f"{where}: no such directory")
    if (where / ".git").exists():
        raise HookError(
            f"{where} is a working tree, not a bare repository: the server builds what is "
            f"pushed to a bare one (make it with `git clone --bare {where} {where}.git`)"
        )
    answer = _git(where, "rev-parse", "--is-bare-repository")
    if answer != "true":
        raise HookError(
            f"{where} is not a bare repository (create one with `git init --bare {where}`, "
            "or give the URL of a remote to poll)"
        )
    return where.resolve()


def hooks_dir(repository: Path) -> Path:
    """Where git looks for this repository's hooks (``core.hooksPath`` honoured)."""
    relative = _git(repository, "rev-parse", "--git-path", "hooks")
    path = Path(relative)
    return path if path.is_absolute() else (repository / path).resolve()


def _git(repository: Path, *args: str) -> str:
    try:
        completed = subprocess.run(
            ["git", "--git-dir", str(repository), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except FileNotFoundError:
        raise HookError("git is not installed (no 'git' on PATH)") from None
    if completed.returncode != 0:
        message = completed.stderr.strip() or "no message"
        raise HookError(f"{repository} is not a git repository: {message}")
    return completed.stdout.strip()


def is_ours(hook: Path) -> bool:
    try:
        with hook.open(encoding="utf-8", errors="replace") as handle:
            return MARKER in handle.read(4096)
    except OSError:
        return False


def install_hook(
    repository: Path, *, name: str, base_url: str, secret: str, url_file: Path | None = None
) -> Path:
    """Write our ``post-receive`` hook (chaining to one already there); returns its path.

    With ``url_file`` the hook posts to the URL recorded there, ``base_url`` only
    when that file cannot be read."""
    directory = hooks_dir(repository)
    hook = directory / HOOK_NAME
    chained = directory / CHAINED_NAME
    text = hook_text(
        python=sys.executable,
        name=name,
        base_url=base_url,
        secret=secret,
        url_file=str(url_file) if url_file is not None else None,
    )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if (hook.exists() or hook.is_symlink()) and not is_ours(hook):
            if chained.exists():
                raise HookError(
                    f"{hook} exists and so does {chained}; "
                    "merge them by hand, then run the command again"
                )
            hook.rename(chained)
        partial = directory / f".{HOOK_NAME}.conveyor-partial"
        # 0700: the hook holds the repository's webhook secret.
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(partial, 0o700)
        partial.replace(hook)
    except PermissionError as error:
        raise HookError(f"cannot write the hook in {directory}: {error.strerror}") from None
    return hook


def remove_hook(repository: Path) -> bool:
    """Remove our hook and restore the chained one; False when our hook was not there."""
    try:
        directory = hooks_dir(repository)
    except HookError:
        return False  # the repository is gone: nothing to clean up
    hook = directory / HOOK_NAME
    if not is_ours(hook):
        return False
    chained = directory / CHAINED_NAME
    try:
        hook.unlink()
        if chained.exists() or chained.is_symlink():
            chained.rename(hook)
    except PermissionError as error:
        raise HookError(f"cannot remove the hook in {directory}: {error.strerror}") from None
    return True
