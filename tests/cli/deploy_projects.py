"""A small Django shop made by the test venv's real django-admin, in versions that a
deploy test moves through: a view that says its version, /healthz, a model whose
migrations a release applies, gunicorn in its requirements."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
from pathlib import Path

import django

from conveyor.actions.in_job import source
from conveyor.deploy.deployer import DeploySettings, Reporter
from tests.cli.django_projects import append, startproject
from tests.helpers import VENV_BIN, conveyor_env, git

PROJECT_VIEWS = """
from django.http import HttpResponse

from shop.version import HEALTH, VERSION

_checks = 0


def version(request):
    return HttpResponse(f"shop {VERSION}\\n")


def healthz(request):
    # HEALTH: "ok"; "broken" (always 500); "breaks-after-N" (the N+1th check on fails:
    # healthy when first checked, unhealthy soon after).
    global _checks
    _checks += 1
    if HEALTH == "broken":
        return HttpResponse("broken\\n", status=500)
    if HEALTH.startswith("breaks-after-") and _checks > int(HEALTH.rsplit("-", 1)[1]):
        return HttpResponse("broken now\\n", status=500)
    return HttpResponse("ok\\n")
"""

URLS = """
from django.urls import path

from shop import views

urlpatterns = [path("", views.version), path("healthz", views.healthz)]
"""

MODELS = """
from django.db import models


class Product(models.Model):
    name = models.CharField(max_length=100)
"""

TESTS = """
from django.test import TestCase


class VersionTests(TestCase):
    def test_home_names_the_shop(self):
        response = self.client.get("/", HTTP_HOST="shop.example")
        self.assertContains(response, "shop v")
"""

FAILING_TEST = """

    def test_that_fails(self):
        self.assertEqual(1, 2)
"""


def deploy_inputs(
    target: Path | str, bind: str, indent: str, shared: list[str], **inputs: str
) -> str:
    """The deploy step's ``with:`` lines, each behind ``indent`` (``watch_seconds`` for
    ``watch-seconds``)."""
    lines = [f"target: {target}", f"bind: {bind}", "health-path: /healthz", "shared: |"]
    lines += [f"  {path}" for path in shared]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in inputs.items()]
    return "".join(f"{indent}{line}\n" for line in lines)


def workflow(target: Path, bind: str, extra: str = "") -> str:
    inputs = deploy_inputs(
        target,
        bind,
        "      ",
        ["media", ".env", "db.sqlite3"],
        health_timeout="20",
        watch_seconds="3",
    )
    return f"""steps:
  - name: Build
    run: python manage.py collectstatic --noinput
  - name: Test
    run: python manage.py test
  - name: Deploy
    uses: conveyor/deploy-django@v1
    with:
{inputs}{extra}"""


TEST_JOB = """  test:
    runs-on: local
    steps:
      - name: Build
        run: python manage.py collectstatic --noinput
      - name: Test
        run: python manage.py test
"""


def production_workflow(
    target: Path | str, bind: str, with_tests: bool = False, **inputs: str
) -> str:
    """A GitHub workflow whose ``deploy`` job deploys the shop to the ``production``
    environment (``inputs``: more of the action's, ``watch_seconds`` for
    ``watch-seconds``); ``with_tests``: after a ``test`` job that builds and tests it."""
    tests, needs = (TEST_JOB, "    needs: test\n") if with_tests else ("", "")
    step_inputs = deploy_inputs(target, bind, " " * 10, ["media", "db.sqlite3"], **inputs)
    return f"""on: push
jobs:
{tests}  deploy:
{needs}    runs-on: local
    environment: production
    steps:
      - name: Deploy
        uses: conveyor/deploy-django@v1
        with:
{step_inputs}"""


def make_shop(root: Path, target: Path, bind: str) -> Path:
    """The shop at v1, committed: its workflow deploys to ``target`` on ``bind``."""
    project = startproject(root, app="shop")
    settings = project / "mysite" / "settings.py"
    append(
        settings,
        '\nALLOWED_HOSTS = ["shop.example", "localhost"]\n'
        'INSTALLED_APPS += ["shop"]\nSTATIC_ROOT = BASE_DIR / "staticfiles"\n',
    )
    (project / "mysite" / "urls.py").write_text(URLS)
    (project / "shop" / "views.py").write_text(PROJECT_VIEWS)
    (project / "shop" / "models.py").write_text(MODELS)
    (project / "shop" / "tests.py").write_text(TESTS)
    (project / "requirements.txt").write_text(f"Django=={django.__version__}\ngunicorn\n")
    (project / ".gitignore").write_text("db.sqlite3\nstaticfiles/\n__pycache__/\n")
    (project / ".conveyor.yml").write_text(workflow(target, bind))
    set_version(project, "v1")
    makemigrations(project)
    commit(project, "v1")
    return project


def set_version(project: Path, version: str, health: str = "ok") -> None:
    (project / "shop" / "version.py").write_text(f"VERSION = {version!r}\nHEALTH = {health!r}\n")


def add_failing_test(project: Path) -> None:
    append(project / "shop" / "tests.py", FAILING_TEST)


def remove_failing_test(project: Path) -> None:
    (project / "shop" / "tests.py").write_text(TESTS)


def add_field(project: Path, field: str) -> None:
    """A new column on Product, and its (reversible) migration."""
    append(project / "shop" / "models.py", f"    {field} = models.IntegerField(default=0)\n")
    makemigrations(project)


def add_irreversible_migration(project: Path, name: str) -> None:
    migrations = sorted((project / "shop" / "migrations").glob("0*.py"))
    previous = migrations[-1].stem
    number = int(previous[:4]) + 1
    (project / "shop" / "migrations" / f"{number:04d}_{name}.py").write_text(
        f'''from django.db import migrations


def fill(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    dependencies = [("shop", "{previous}")]
    operations = [migrations.RunPython(fill)]
'''
    )


def makemigrations(project: Path) -> None:
    python = str(Path(VENV_BIN) / "python")
    subprocess.run(
        [python, "manage.py", "makemigrations", "shop"],
        cwd=project,
        check=True,
        capture_output=True,
        # Not the server's settings that server tests leave in this process's environment.
        env=conveyor_env(),
    )


def commit(project: Path, message: str) -> None:
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", message, cwd=project)


def pack(project: Path, into: Path, shared: list[str]) -> tuple[Path, str]:
    """The project as a sandboxed job hands it to the deploy: the in-job packer's tar of
    git's files (run as a job runs it), and HEAD's sha."""
    archive, outputs = into / "release.tar", into / "pack-outputs"
    outputs.write_text("")
    spec = {"project": str(project), "shared": shared, "output": str(archive)}
    subprocess.run(
        [sys.executable, "-c", source("pack_release"), json.dumps(spec)],
        check=True,
        env=conveyor_env(GITHUB_OUTPUT=str(outputs)),
    )
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    return archive, values["sha"]


def archive_settings(target: str, bind: str, packed: tuple[Path, str], **more) -> DeploySettings:
    """The shop deployed from ``pack``'s (tar, sha), as the server hands it over."""
    archive, sha = packed
    return DeploySettings(
        target=target,
        bind=bind,
        project_dir="",
        archive=str(archive),
        sha=sha,
        health_path="/healthz",
        shared=["db.sqlite3"],
        **more,
    )


class Recorded:
    """A deploy's Reporter that keeps what it was told."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.states: list[str] = []
        self.reporter = Reporter(self.lines.append, lambda state, *_: self.states.append(state))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(address: str, path: str = "/") -> tuple[int, str]:
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path, headers={"Host": "shop.example"})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def served(bind: str) -> str:
    """What a request on ``bind`` gets."""
    status, body = get(bind)
    assert status == 200, body
    return body.strip()
