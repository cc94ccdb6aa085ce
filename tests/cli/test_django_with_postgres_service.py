"""A Django project whose GitHub workflow has a PostgreSQL service, run with
``--service postgres=127.0.0.1:5432`` against the machine's real PostgreSQL (trust
authentication for the user postgres, as a CI machine's): ``manage.py test`` is green
and really ran on PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.cli.django_projects import append, startproject
from tests.helpers import VENV_BIN, conveyor_env, git, run_conveyor

pytestmark = pytest.mark.slow

HOST, PORT = "127.0.0.1", 5432

# As GitHub's PostgreSQL guide and Django projects write it: a host job reaches the
# service at localhost and the published port.
WORKFLOW = """\
name: Django CI
on: push
jobs:
  tests:
    runs-on: ubuntu-latest
    services:
      postgres:
        image: postgres:16
        env:
          POSTGRES_USER: postgres
          POSTGRES_PASSWORD: postgres
        ports: ['5432:5432']
        options: >-
          --health-cmd pg_isready --health-interval 10s --health-timeout 5s --health-retries 5
    env:
      POSTGRES_HOST: localhost
      POSTGRES_DB: {database}
    steps:
      - name: Test
        env:
          POSTGRES_PORT: ${{{{ job.services.postgres.ports[5432] }}}}
        run: python manage.py test blog -v 2
"""

SETTINGS = """
import os

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["POSTGRES_DB"],
        "USER": "postgres",
        "PASSWORD": "postgres",
        "HOST": os.environ["POSTGRES_HOST"],
        "PORT": os.environ["POSTGRES_PORT"],
    }
}
"""

MODELS = """
from django.db import models


class Post(models.Model):
    title = models.CharField(max_length=100)
"""

TESTS = """
from django.db import connection
from django.test import TestCase

from blog.models import Post


class PostgresTests(TestCase):
    def test_posts_are_stored_in_postgresql(self):
        Post.objects.create(title="hello")
        self.assertEqual(Post.objects.count(), 1)
        with connection.cursor() as cursor:
            cursor.execute("select version()")
            print("server:", cursor.fetchone()[0].split(" on ")[0])
        self.assertEqual(connection.vendor, "postgresql")
"""


def no_user_config(tmp_path: Path) -> dict[str, str]:
    """The user's own config file (which may map services) is not read."""
    return conveyor_env(XDG_CONFIG_HOME=str(tmp_path / "no-config"))


def postgres_answers() -> bool:
    ready = shutil.which("pg_isready")
    if ready is None:
        return False
    return subprocess.run([ready, "-q", "-h", HOST, "-p", str(PORT)]).returncode == 0


@pytest.fixture(scope="module")
def postgres() -> None:
    """The machine's PostgreSQL on 127.0.0.1:5432, started if it is installed but down."""
    if postgres_answers():
        return
    clusters = shutil.which("pg_lsclusters")
    if clusters is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    listed = subprocess.run([clusters, "-h"], capture_output=True, text=True).stdout
    for line in listed.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            subprocess.run(["pg_ctlcluster", fields[0], fields[1], "start"], capture_output=True)
    assert postgres_answers(), f"PostgreSQL is installed but does not answer on {HOST}:{PORT}"


def django_project(tmp_path: Path) -> tuple[Path, str]:
    project = startproject(tmp_path / "site")
    # A database of the test's own: other runs may test on the same server at once.
    database = f"conveyor_{uuid.uuid4().hex[:12]}"
    append(project / "mysite" / "settings.py", SETTINGS)
    settings = project / "mysite" / "settings.py"
    installed = "'django.contrib.staticfiles',"
    assert installed in settings.read_text()
    settings.write_text(settings.read_text().replace(installed, f"{installed}\n    'blog',"))
    (project / "blog" / "models.py").write_text(MODELS)
    (project / "blog" / "tests.py").write_text(TESTS)
    migrations = project / "blog" / "migrations"
    subprocess.run(
        [str(Path(VENV_BIN) / "python"), "manage.py", "makemigrations", "blog"],
        cwd=project,
        check=True,
        capture_output=True,
        env=conveyor_env(POSTGRES_DB=database, POSTGRES_HOST=HOST, POSTGRES_PORT=str(PORT)),
    )
    assert (migrations / "0001_initial.py").exists()
    workflows = project / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text(WORKFLOW.format(database=database))
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "django with postgres", cwd=project)
    return project, database


def test_manage_py_test_runs_green_against_the_real_postgresql(tmp_path, postgres):
    project, database = django_project(tmp_path)

    result = run_conveyor(
        "run",
        "--color",
        "never",
        "--service",
        f"postgres={HOST}:{PORT}",
        cwd=project,
        env=no_user_config(tmp_path),
    )

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "test_posts_are_stored_in_postgresql (blog.tests.PostgresTests" in out
    assert "server: PostgreSQL" in out
    assert "Ran 1 test" in out and "OK" in out
    assert f"Creating test database for alias 'default' ('test_{database}')" in out
    # The service's published port is the one mapped: nothing to warn about.
    assert "##[warning]" not in out


def test_without_the_mapping_nothing_runs_and_the_flag_is_named(tmp_path, postgres):
    project, _ = django_project(tmp_path)

    result = run_conveyor("run", "--color", "never", cwd=project, env=no_user_config(tmp_path))

    assert result.returncode == 2, result.stdout + result.stderr
    first, *_, last = result.stderr.splitlines()
    assert first.startswith(
        ".github/workflows/ci.yml:7:7: service 'postgres' of job 'tests' (postgres:16) is not "
        "mapped to a running service; Conveyor starts no service containers: give the address "
        "of one with --service postgres=HOST:PORT"
    )
    assert last == "conveyor: 1 problem found"
    assert "manage.py test" not in result.stdout
