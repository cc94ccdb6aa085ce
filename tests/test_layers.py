"""The layers of DESIGN.md: nothing below the server imports Django or the server,
and the CLI's own modules import neither (it must start fast)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "conveyor"
LOWER_LAYERS = ["workflow", "engine", "executors", "actions", "terminal", "commands"]
FORBIDDEN = ("django", "conveyor.server", "ninja", "uvicorn", "celery")
# `conveyor server` and `conveyor repo` are the CLI's doors into the server; they load it lazily.
SERVER_DOORS = {"commands/server.py", "commands/repo.py"}
# The table of the server's settings is plain Python, so `--help` can list it without Django.
ALLOWED = {"conveyor.server.conf"}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def layer_files() -> list[Path]:
    files = [PACKAGE / "cli.py"]
    for layer in LOWER_LAYERS:
        files += sorted((PACKAGE / layer).rglob("*.py"))
    return [f for f in files if str(f.relative_to(PACKAGE)) not in SERVER_DOORS]


@pytest.mark.parametrize("path", layer_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_lower_layers_never_import_the_server_or_django(path: Path) -> None:
    bad = [
        f"{path.name}:{line} imports {module}"
        for line, module in imported_modules(path)
        if module not in ALLOWED
        and (module.split(".")[0] in FORBIDDEN or module.startswith(FORBIDDEN))
    ]
    assert bad == []


def test_the_layers_exist() -> None:
    for layer in LOWER_LAYERS:
        assert list((PACKAGE / layer).glob("*.py")), layer
