"""Which workflow files a run uses (DESIGN.md, "Workflow discovery").

``--workflow FILE`` wins; else ``.conveyor.yml`` or ``conveyor.yml`` at the
repository root; else every ``.github/workflows/*.y*ml`` (the caller keeps those
whose ``on:`` accepts the event).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_FILES = (".conveyor.yml", ".conveyor.yaml", "conveyor.yml", "conveyor.yaml")


class NoWorkflow(Exception):
    """Nothing to run: says where Conveyor looked."""


def find_repository_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` holding ``.git``; ``start`` if none."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return start


def discover(root: Path, explicit: list[str] | None = None) -> tuple[list[Path], bool]:
    """The candidate workflow files, and whether they came from ``.github/workflows``.

    Files from ``.github/workflows`` still need their ``on:`` checked against the
    event; explicit and root files run whatever their ``on:`` says.
    """
    if explicit:
        paths = []
        for name in explicit:
            path = Path(name)
            if not path.is_absolute():
                path = Path(os.getcwd()) / path
            if not path.is_file():
                raise NoWorkflow(f"{name}: no such workflow file")
            paths.append(path)
        return paths, False
    for name in ROOT_FILES:
        if (root / name).is_file():
            return [root / name], False
    workflows_dir = root / ".github" / "workflows"
    found = (
        sorted(
            p for p in workflows_dir.glob("*.y*ml") if p.suffix in (".yml", ".yaml") and p.is_file()
        )
        if workflows_dir.is_dir()
        else []
    )
    if not found:
        raise NoWorkflow(
            f"no workflow found in {root}: looked for {', '.join(ROOT_FILES[::2])} and "
            ".github/workflows/*.yml (run 'conveyor init' to write one, or pass --workflow FILE)"
        )
    return found, True


def display_path(path: Path, root: Path) -> str:
    """How messages name a workflow: relative to the repository root when inside it."""
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)
