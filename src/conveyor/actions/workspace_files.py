"""Files of the workspace an action's inputs name, read by the engine without leaving it."""

from __future__ import annotations

import os

from conveyor.actions.action_steps import ActionFailed
from conveyor.engine.step_types import ActionHost

_FILE_LIMIT = 1024 * 1024


def inside_workspace(host: ActionHost, relative: str, what: str) -> tuple[str, str]:
    """``relative`` (a path the workflow gave) joined to the workspace, and where it
    really leads (links followed); ``ActionFailed`` if that is outside the workspace."""
    path = os.path.normpath(os.path.join(host.workspace, relative))
    real = os.path.realpath(path)
    root = os.path.realpath(host.workspace)
    if os.path.commonpath([real, root]) != root:
        raise ActionFailed(f"{what} {relative!r} is outside the workspace (it resolves to {real})")
    return path, real


def read_workspace_file(host: ActionHost, relative: str, what: str) -> str | None:
    """The text of ``relative`` (a path the workflow gave) in the workspace; None if absent.

    The engine reads it on the host, so a path or link leading out of the workspace
    (to the server's data, say) is refused rather than followed, and only a regular
    file of reasonable size is read.
    """
    from conveyor.engine.host_files import read_regular

    _, real = inside_workspace(host, relative, what)
    if not os.path.lexists(real):
        return None
    data = read_regular(real, _FILE_LIMIT + 1)
    if len(data) > _FILE_LIMIT:
        raise ActionFailed(f"{what} {relative!r} is over {_FILE_LIMIT // 1024} KiB")
    return data.decode("utf-8", errors="replace")
