"""A small Django shop made by the test venv's real django-admin, in versions that a
deploy test moves through: a view that says its version, /healthz, a model whose
migrations a release applies, gunicorn in its requirements."""

from __future__ import annotations

import subprocess
from pathlib import Path

import django

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


def workflow(target: Path, bind: str, extra: str = "") -> str:
    return f"""steps:
  - name: Build
    run: python manage.py collectstatic --noinput
  - name: Test
    run: python manage.py test
  - name: Deploy
    uses: conveyor/deploy-django@v1
    with:
      target: {target}
      bind: {bind}
      health-path: /healthz
      shared: |
        media
        .env
        db.sqlite3
      health-timeout: 20
      watch-seconds: 3
{extra}"""


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
