"""What a release needs before it serves: its virtualenv (packages from a cache the
releases share), its static files, and its migrations behind a gate."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

from conveyor.deploy.state import DeployError

Log = Callable[[str], None]

# Run with the release's python inside the release: what the deploy needs to know from
# Django itself (its settings, the migration plan and whether each step can be undone).
_INSPECT = r"""
import json, django
django.setup()
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
executor = MigrationExecutor(connection)
graph = executor.loader.graph
applied = set(executor.loader.applied_migrations)
plan = executor.migration_plan(graph.leaf_nodes())
steps, before = [], {}
for migration, backwards in plan:
    key = (migration.app_label, migration.name)
    if migration.app_label not in before:
        parents = [p for p in graph.node_map[key].parents if p.key[0] == migration.app_label]
        done = [p.key[1] for p in parents if p.key in applied]
        before[migration.app_label] = done[0] if done else "zero"
    steps.append({
        "app": migration.app_label,
        "name": migration.name,
        "irreversible": [op.describe() for op in migration.operations if not op.reversible],
    })
print(json.dumps({
    "allowed_hosts": list(settings.ALLOWED_HOSTS),
    "wsgi": getattr(settings, "WSGI_APPLICATION", "") or "",
    "plan": steps,
    "before": before,
}))
"""


@dataclass
class DjangoFacts:
    allowed_hosts: list[str]
    wsgi: str  # module:callable
    plan: list[dict] = field(default_factory=list)
    before: dict[str, str] = field(default_factory=dict)

    @property
    def host_header(self) -> str:
        """A Host the project accepts: its first ALLOWED_HOSTS entry that is no wildcard
        (``.example.com`` means the domain and its subdomains), else localhost."""
        for entry in self.allowed_hosts:
            if entry and entry != "*":
                host = entry[1:] if entry.startswith(".") else entry
                if "*" not in host:
                    return host
        return "localhost"

    def irreversible(self) -> list[str]:
        return [
            f"{step['app']}.{step['name']}: {operation}"
            for step in self.plan
            for operation in step["irreversible"]
        ]


class Runner:
    """Runs the release's commands, their output in the deploy's log."""

    def __init__(self, log: Log, env: dict[str, str]) -> None:
        self.log = log
        self.env = env

    def run(self, argv: list[str], cwd: str, what: str, env: dict[str, str] | None = None) -> str:
        self.log(f"$ {' '.join(argv)}")
        try:
            done = subprocess.run(
                argv,
                cwd=cwd,
                env={**self.env, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
        except OSError as error:
            raise DeployError(f"{what}: cannot run {argv[0]}: {error.strerror}") from None
        for line in done.stdout.splitlines():
            self.log(line)
        if done.returncode != 0:
            last = next((x for x in reversed(done.stdout.splitlines()) if x.strip()), "")
            raise DeployError(f"{what} failed (exit code {done.returncode}): {last.strip()}")
        return done.stdout


def make_virtualenv(runner: Runner, release_dir: str, python: str, cache_dir: str) -> str:
    """``<release>/.venv`` with the project's requirements; its python. uv when the
    machine has it (its cache makes a warm install a matter of links), else venv + pip
    with pip's cache."""
    requirements = os.path.join(release_dir, "requirements.txt")
    if not os.path.isfile(requirements):
        raise DeployError("the project has no requirements.txt (gunicorn and Django go there)")
    if not _names_gunicorn(requirements):
        raise DeployError("requirements.txt does not name gunicorn, the app server the deploy runs")
    venv = os.path.join(release_dir, ".venv")
    venv_python = os.path.join(venv, "bin", "python")
    uv = shutil.which("uv", path=runner.env.get("PATH"))
    if uv:
        env = {"UV_CACHE_DIR": os.path.join(cache_dir, "uv")}
        runner.run([uv, "venv", "--python", python, venv], release_dir, "uv venv", env)
        runner.run(
            [uv, "pip", "install", "--python", venv_python, "-r", requirements],
            release_dir,
            "installing the requirements",
            env,
        )
    else:
        env = {
            "PIP_CACHE_DIR": os.path.join(cache_dir, "pip"),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
        # Installing pip into every venv costs seconds: the interpreter's own pip, when
        # it can install into another environment (--python, pip 22.3), does the work.
        outer_pip = _pip_that_installs_elsewhere(python, runner.env)
        without_pip = ["--without-pip"] if outer_pip else []
        runner.run(
            [python, "-m", "venv", *without_pip, venv], release_dir, "making the virtualenv", env
        )
        installer = (
            [python, "-m", "pip", "--python", venv_python]
            if outer_pip
            else [venv_python, "-m", "pip"]
        )
        runner.run(
            [*installer, "install", "-q", "-r", requirements],
            release_dir,
            "installing the requirements",
            env,
        )
    if not os.path.exists(os.path.join(venv, "bin", "gunicorn")):
        raise DeployError("gunicorn is not installed by requirements.txt")
    return venv_python


def _pip_that_installs_elsewhere(python: str, env: dict[str, str]) -> bool:
    """Whether ``python -m pip`` exists and knows ``--python`` (pip 22.3 or later)."""
    try:
        found = subprocess.run(
            [python, "-m", "pip", "--version"], env=env, capture_output=True, text=True
        )
    except OSError:
        return False
    version = re.match(r"pip (\d+)\.(\d+)", found.stdout)
    return (
        found.returncode == 0
        and version is not None
        and ((int(version.group(1)), int(version.group(2))) >= (22, 3))
    )


def _names_gunicorn(requirements: str) -> bool:
    """Whether a line of the file requires gunicorn itself (not gunicorn-stubs)."""
    with open(requirements, encoding="utf-8", errors="replace") as file:
        for line in file:
            name = line.split("#", 1)[0].strip().lower()
            if re.match(r"gunicorn(?![a-z0-9._-])", name):
                return True
    return False


def inspect(runner: Runner, release_dir: str, python: str) -> DjangoFacts:
    output = runner_output(runner, [python, "-c", _INSPECT], release_dir, "reading the settings")
    try:
        data = json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise DeployError(f"reading the settings gave no answer: {output[-300:]}") from None
    wsgi = data["wsgi"]
    module, _, name = wsgi.rpartition(".")
    return DjangoFacts(
        allowed_hosts=data["allowed_hosts"],
        wsgi=f"{module}:{name}" if module else "",
        plan=data["plan"],
        before=data["before"],
    )


def runner_output(runner: Runner, argv: list[str], cwd: str, what: str) -> str:
    """A command whose output is data (not shown line by line), failing as ``run`` does."""
    done = subprocess.run(
        argv, cwd=cwd, env=runner.env, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    if done.returncode != 0:
        for line in done.stderr.splitlines()[-20:]:
            runner.log(line)
        last = next((x for x in reversed(done.stderr.splitlines()) if x.strip()), "")
        raise DeployError(f"{what} failed (exit code {done.returncode}): {last.strip()}")
    return done.stdout


def collectstatic(runner: Runner, release_dir: str, python: str) -> None:
    runner.run([python, "manage.py", "collectstatic", "--noinput"], release_dir, "collectstatic")


def migrate_gate(
    runner: Runner, release_dir: str, python: str, facts: DjangoFacts, allow_irreversible: bool
) -> None:
    """Show the plan; refuse what Django cannot undo unless the workflow allows it."""
    runner.run([python, "manage.py", "migrate", "--plan"], release_dir, "migrate --plan")
    irreversible = facts.irreversible()
    if irreversible and not allow_irreversible:
        raise DeployError(
            "migrations Django cannot reverse (a rollback could not undo them): "
            + "; ".join(irreversible)
            + " (set allow-irreversible-migrations: true to apply them anyway)"
        )


def migrate(runner: Runner, release_dir: str, python: str) -> None:
    runner.run([python, "manage.py", "migrate", "--noinput"], release_dir, "migrate")


def unmigrate(runner: Runner, release_dir: str, python: str, before: dict[str, str]) -> None:
    """Each app back to the migration it had before the release (its own files know how)."""
    for app, name in reversed(list(before.items())):
        runner.run(
            [python, "manage.py", "migrate", "--noinput", app, name],
            release_dir,
            f"reversing the migrations of {app}",
        )
