"""A worker has no database credentials and no server settings: its modules import
nothing of Django, and of the server only the dispatch protocol."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.test_layers import PACKAGE, imported_modules

WORKER_MODULES = sorted((PACKAGE / "worker").glob("*.py"))
ALLOWED_FROM_SERVER = {"conveyor.server.dispatch.protocol"}


def test_worker_modules_import_only_the_protocol_of_the_server() -> None:
    bad = [
        f"{path.name}:{line} imports {module}"
        for path in [*WORKER_MODULES, PACKAGE / "commands" / "worker.py"]
        for line, module in imported_modules(path)
        if (module.startswith("conveyor.server") and module not in ALLOWED_FROM_SERVER)
        or module.split(".")[0] in ("django", "ninja", "uvicorn")
    ]
    assert bad == []


def _loaded_after(imports: list[str]) -> tuple[list[str], list[str]]:
    """The Django and the server modules loaded after ``imports``, in a fresh interpreter."""
    script = "\n".join(
        [
            "import sys",
            *(f"import {module}" for module in imports),
            "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))",
            "print(sorted(m for m in sys.modules if m.startswith('conveyor.server')))",
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    django, server = done.stdout.splitlines()
    return ast.literal_eval(django), ast.literal_eval(server)


PROTOCOL_ONLY = ["conveyor.server", "conveyor.server.dispatch", "conveyor.server.dispatch.protocol"]


def test_the_worker_runs_jobs_without_loading_django() -> None:
    modules = [
        f"conveyor.worker.{path.stem}"
        for path in WORKER_MODULES
        if path.stem not in ("__init__", "celery_worker")
    ]
    assert "conveyor.worker.jobs" in modules
    django, server = _loaded_after([*modules, "conveyor.commands.worker"])
    assert django == []
    assert server == PROTOCOL_ONLY


def test_celery_side_loads_only_what_kombu_probes_of_django() -> None:
    """kombu's JSON looks for Django's lazy strings when Django is installed (it always is
    with Conveyor): a few helpers of ``django.utils``, never settings, apps or the ORM."""
    django, server = _loaded_after(["conveyor.worker.celery_worker"])
    assert set(django) <= {
        "django",
        "django.utils",
        "django.utils.functional",
        "django.utils.regex_helper",
        "django.utils.version",
    }
    assert server == PROTOCOL_ONLY
