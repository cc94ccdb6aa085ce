"""Which workflow files a run uses (DESIGN.md, "Workflow discovery").

``--workflow FILE`` wins; else ``.conveyor.yml`` or ``conveyor.yml`` at the
repository root; else every ``.github/workflows/*.y*ml`` (the caller keeps those
whose ``on:`` accepts the event).
"""

from __future__ import annotations

import os

ROOT_FILES = (".conveyor.yml", ".conveyor.yaml", "conveyor.yml", "conveyor.yaml")
WORKFLOW_SUFFIXES = (".yml", ".yaml")


class NoWorkflow(Exception):
    """Nothing to run: says where Conveyor looked."""


# Paths are plain strings here (os.path): this runs on every start, and pathlib
# (with the URL parsing it imports) costs start-up.


def find_repository_root(start: str | os.PathLike[str]) -> str:
    """The nearest directory at or above ``start`` holding ``.git``; ``start`` if none."""
    start = os.path.realpath(start)
    directory = start
    while not os.path.exists(os.path.join(directory, ".git")):
        parent = os.path.dirname(directory)
        if parent == directory:
            return start
        directory = parent
    return directory


def discover(root: str, explicit: list[str] | None = None) -> tuple[list[str], bool]:
    """The candidate workflow files, and whether they came from ``.github/workflows``.

    Files from ``.github/workflows`` still need their ``on:`` checked against the
    event; explicit and root files run whatever their ``on:`` says.
    """
    if explicit:
        paths = []
        for name in explicit:
            path = _tidy(os.path.join(os.getcwd(), name))
            if not os.path.isfile(path):
                raise NoWorkflow(f"{name}: no such workflow file")
            paths.append(path)
        return paths, False
    for name in ROOT_FILES:
        if os.path.isfile(os.path.join(root, name)):
            return [os.path.join(root, name)], False
    workflows_dir = os.path.join(root, ".github", "workflows")
    found = (
        sorted(
            entry.path
            for entry in os.scandir(workflows_dir)
            if os.path.splitext(entry.name)[1] in WORKFLOW_SUFFIXES and entry.is_file()
        )
        if os.path.isdir(workflows_dir)
        else []
    )
    if not found:
        raise NoWorkflow(
            f"no workflow found in {root}: looked for {', '.join(ROOT_FILES[::2])} and "
            ".github/workflows/*.yml (run 'conveyor init' to write one, or pass --workflow FILE)"
        )
    return found, True


def display_path(path: str, root: str) -> str:
    """How messages name a workflow: relative to the repository root when inside it."""
    real = os.path.realpath(path)
    if os.path.commonpath([real, root]) == root:
        return os.path.relpath(real, root)
    return path


def _tidy(path: str) -> str:
    """``path`` without empty or ``.`` parts, as pathlib would write it."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    return ("/" if path.startswith("/") else "") + "/".join(parts)
