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

from conveyor.deploy import venv_reuse
from conveyor.deploy.state import DeployError

Log = Callable[[str], None]

# Run with the release's python inside the release, with the settings module gunicorn
# gets: the stages named in its arguments, in one process (each ``manage.py`` command
# would start Python and set Django up again, ~0.4 s each), then what the deploy needs
# to know from Django itself (its settings, the migration plan and whether each step can
# be undone) as the last line. ``migrate-if-none-planned`` migrates only when the plan is
# empty (its post_migrate signal still runs; nothing could need undoing); a plan with
# steps is migrated by the deploy after the gate, once it recorded what to undo.
_DJANGO = r"""
import json, sys

def stage(name):
    print(%(marker)r + "stage " + name, flush=True)

stage("settings")
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
if "collectstatic" in sys.argv:
    from django.apps import apps
    stage("collectstatic")
    if not apps.is_installed("django.contrib.staticfiles"):
        print("collectstatic skipped: django.contrib.staticfiles is not installed", flush=True)
    elif not getattr(settings, "STATIC_ROOT", None):
        # Without it Django's collectstatic stops with a traceback; the release can still
        # serve (a CDN, DEBUG's own serving): said plainly instead.
        print(
            "warning: collectstatic skipped: the settings set no STATIC_ROOT, so the "
            "release holds no collected static files (set STATIC_ROOT, e.g. "
            "BASE_DIR / 'staticfiles', to collect them)",
            flush=True,
        )
    else:
        call_command("collectstatic", interactive=False)
steps, before, migrated = [], {}, False
if connection.settings_dict.get("ENGINE") == "django.db.backends.dummy":
    # DATABASES is empty: an app without a database has no migrations to gate.
    print("no database in the settings (DATABASES is empty): no migrations", flush=True)
else:
    if "plan" in sys.argv:
        stage("plan")
        call_command("migrate", plan=True)
    stage("settings")
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    applied = set(executor.loader.applied_migrations)
    plan = executor.migration_plan(graph.leaf_nodes())
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
    if "migrate-if-none-planned" in sys.argv and not steps:
        stage("migrate")
        call_command("migrate", interactive=False)
        migrated = True
sys.stdout.flush()
print(%(marker)r + "facts " + json.dumps({
    "allowed_hosts": list(settings.ALLOWED_HOSTS),
    "wsgi": getattr(settings, "WSGI_APPLICATION", "") or "",
    "plan": steps,
    "before": before,
    "migrated": migrated,
}), flush=True)
"""

# gunicorn calls ``module:factory()`` itself (gunicorn 20.1 and later).
DJANGO_DEFAULT_WSGI = "django.core.wsgi:get_wsgi_application()"

# Starts the script's own lines in its output: no command prints a NUL.
_MARKER = "\0conveyor "

# Each stage: what the log shows it as, and what a failure in it is called.
_STAGES = {
    "settings": ("", "reading the settings"),
    "collectstatic": ("manage.py collectstatic --noinput", "collectstatic"),
    "plan": ("manage.py migrate --plan", "migrate --plan"),
    "migrate": ("manage.py migrate --noinput", "migrate"),
}


@dataclass
class DjangoFacts:
    allowed_hosts: list[str]
    wsgi: str  # module:callable
    plan: list[dict] = field(default_factory=list)
    before: dict[str, str] = field(default_factory=dict)
    migrated: bool = False  # the plan was empty and ``migrate`` already ran

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
        done = self.capture(argv, cwd, what, env)
        for line in done.stdout.splitlines():
            self.log(line)
        if done.returncode != 0:
            last = next((x for x in reversed(done.stdout.splitlines()) if x.strip()), "")
            raise DeployError(f"{what} failed (exit code {done.returncode}): {last.strip()}")
        return done.stdout

    def capture(
        self, argv: list[str], cwd: str, what: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The command run, its stdout and stderr together, nothing logged yet."""
        try:
            return subprocess.run(
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


def make_virtualenv(runner: Runner, release_dir: str, python: str, cache_dir: str) -> str:
    """``<release>/.venv`` with the project's requirements; its python. An earlier
    release's venv made from the same requirements and python, hard-linked (no resolve,
    no install); else uv when the machine has it (its cache makes a warm install a
    matter of links), else venv + pip with pip's cache."""
    requirements = os.path.join(release_dir, "requirements.txt")
    if not os.path.isfile(requirements):
        raise DeployError("the project has no requirements.txt (gunicorn and Django go there)")
    if not _names_gunicorn(requirements):
        raise DeployError("requirements.txt does not name gunicorn, the app server the deploy runs")
    venv = os.path.join(release_dir, ".venv")
    venv_python = os.path.join(venv, "bin", "python")
    venv_key = venv_reuse.key(requirements, python)
    releases_dir, own_name = os.path.split(os.path.abspath(release_dir))
    earlier = venv_reuse.find(releases_dir, own_name, venv_key)
    if earlier is not None:
        files = venv_reuse.copy(earlier, venv)
        venv_reuse.mark(venv, venv_key)
        runner.log(
            f"virtualenv: the same requirements.txt and python as {os.path.dirname(earlier)}:"
            f" its {files} files linked, nothing installed"
        )
        return venv_python
    _install(runner, release_dir, python, cache_dir, requirements, venv)
    if not os.path.exists(os.path.join(venv, "bin", "gunicorn")):
        raise DeployError("gunicorn is not installed by requirements.txt")
    venv_reuse.mark(venv, venv_key)
    return venv_python


def _install(
    runner: Runner, release_dir: str, python: str, cache_dir: str, requirements: str, venv: str
) -> None:
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


def prepare(runner: Runner, release_dir: str, python: str) -> DjangoFacts:
    """collectstatic, the migration plan shown, the facts read, and ``migrate`` when
    nothing is planned: one process."""
    stages = ["collectstatic", "plan", "migrate-if-none-planned"]
    return _django(runner, release_dir, python, stages)


def inspect(runner: Runner, release_dir: str, python: str) -> DjangoFacts:
    return _django(runner, release_dir, python, [])


def _django(runner: Runner, release_dir: str, python: str, stages: list[str]) -> DjangoFacts:
    """The script, its output in the log as if each stage were its own ``manage.py``."""
    marker = _MARKER
    script = _DJANGO % {"marker": marker}
    if stages:
        runner.log(f"$ {python} -c <{', '.join(stages)} in one process>")
    done = runner.capture([python, "-c", script, *stages], release_dir, "reading the settings")
    what, facts, last = "reading the settings", None, ""
    for line in done.stdout.splitlines():
        if line.startswith(marker + "stage "):
            shown, what = _STAGES[line[len(marker) + 6 :]]
            if shown:
                runner.log(f"$ {shown}")
        elif line.startswith(marker + "facts "):
            facts = line[len(marker) + 6 :]
        else:
            runner.log(line)
            last = line.strip() or last
    if done.returncode != 0:
        raise DeployError(f"{what} failed (exit code {done.returncode}): {last}")
    try:
        data = json.loads(facts or "")
    except ValueError:
        raise DeployError(f"reading the settings gave no answer: {last}") from None
    wsgi = data["wsgi"]
    module, _, name = wsgi.rpartition(".")
    return DjangoFacts(
        allowed_hosts=data["allowed_hosts"],
        # No WSGI_APPLICATION: what runserver serves then, Django's own application.
        wsgi=f"{module}:{name}" if module else DJANGO_DEFAULT_WSGI,
        plan=data["plan"],
        before=data["before"],
        migrated=data["migrated"],
    )


def gate(facts: DjangoFacts, allow_irreversible: bool) -> None:
    """Refuse what Django cannot undo unless the workflow allows it."""
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
