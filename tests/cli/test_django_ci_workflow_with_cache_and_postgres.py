"""Issue 11's proof: GitHub's Django starter workflow, in its PostgreSQL-backed form, run
unchanged by ``conveyor run`` on this machine: checkout, setup-python over the machine's
real interpreters with ``cache: pip``, ``pip install -r requirements.txt``, ``manage.py
test`` against the real PostgreSQL through ``--service``, and the test report uploaded.
The second run, in a new HOME, restores pip's cache that the first one saved."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from tests.actions.python_machine import INSTALLATIONS, machine_env
from tests.cli.test_django_with_postgres_service import (
    HOST,
    PORT,
    django_project,
    no_user_config,
    postgres,
)
from tests.helpers import git, run_conveyor

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not INSTALLATIONS, reason="needs a CPython 3 under pyenv"),
]

__all__ = ["postgres"]  # the fixture, used by name

# GitHub's Django starter (checkout, setup-python over a matrix, pip install, manage.py
# test), with the PostgreSQL service and report upload that Django projects add to it.
WORKFLOW = """\
name: Django CI
on:
  push:
    branches: [main]
jobs:
  build:
    runs-on: ubuntu-latest
    services:
      postgres:
        image: postgres:16
        env:
          POSTGRES_PASSWORD: postgres
        ports: ['5432:5432']
    strategy:
      max-parallel: 4
      matrix:
        python-version: ['{version}']
    env:
      POSTGRES_HOST: localhost
      POSTGRES_PORT: 5432
      POSTGRES_DB: {database}
    steps:
    - uses: actions/checkout@v4
    - name: Set up Python ${{{{ matrix.python-version }}}}
      id: python
      uses: actions/setup-python@v5
      with:
        python-version: ${{{{ matrix.python-version }}}}
        cache: pip
    - name: Install Dependencies
      run: |
        pip install -r requirements.txt
    - name: Run Tests
      run: |
        mkdir -p reports
        python manage.py test blog -v 2 2>&1 | tee reports/tests.txt
    - uses: actions/upload-artifact@v4
      with:
        name: test-report-${{{{ matrix.python-version }}}}
        path: reports/
    - run: echo "pip cache hit ${{{{ steps.python.outputs.cache-hit }}}}"
"""


def vendored_source(directory: Path) -> None:
    """``blogtools-1.0.tar.gz``: a source archive pip must build a wheel from."""
    source = directory / "blogtools-1.0"
    (source / "blogtools").mkdir(parents=True)
    (source / "blogtools" / "__init__.py").write_text("VERSION = '1.0'\n")
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "blogtools"\nversion = "1.0"\n'
    )
    (source / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: blogtools\nVersion: 1.0\n")
    with tarfile.open(directory / "blogtools-1.0.tar.gz", "w:gz") as archive:
        archive.add(source, arcname="blogtools-1.0")
    shutil.rmtree(source)


def test_the_starter_workflow_runs_green_and_its_second_run_hits_the_pip_cache(
    tmp_path: Path, postgres: None
):
    installation = INSTALLATIONS[-1]
    version = installation.version.minor
    project, database = django_project(tmp_path)
    # This machine's pip takes wheels from a local directory, and its proxy's answers
    # carry no caching headers, so pip's HTTP cache stays empty here; what pip does cache
    # is the wheel it builds from a package's source archive, as a vendored one is.
    vendored_source(project / "vendor")
    (project / "requirements.txt").write_text(
        "Django>=4.2\npsycopg[binary]\n./vendor/blogtools-1.0.tar.gz\n"
    )
    workflow = project / ".github" / "workflows" / "ci.yml"
    workflow.write_text(WORKFLOW.format(version=version, database=database))
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "starter workflow", cwd=project)

    machine = machine_env(tmp_path)
    home = Path(machine["HOME"])
    env = no_user_config(tmp_path)
    env.update(
        PYENV_ROOT=machine["PYENV_ROOT"],
        HOME=str(home),
        PATH=machine["PATH"],
        # pip installs into the user's site of this HOME, never into the machine's
        # interpreter, which the linked pyenv root shares.
        PIP_USER="1",
    )
    env.pop("XDG_CACHE_HOME", None)
    env.pop("PIP_CACHE_DIR", None)

    def run() -> str:
        result = run_conveyor(
            "run", "--color", "never", "--service", f"postgres={HOST}:{PORT}", cwd=project, env=env
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr
        return result.stdout

    first = run()
    assert "Building wheel for blogtools" in first
    assert f"Using Python {installation.version}" in first or str(installation.version) in first
    assert "Ran 1 test" in first and "server: PostgreSQL" in first
    assert "pip cache hit false" in first
    # A fresh runner's HOME: what pip has in its cache now, the cache put there.
    shutil.rmtree(home / ".cache" / "pip")
    shutil.rmtree(home / ".local")
    second = run()
    assert "Cache restored from key: setup-python-Linux-" in second, second
    assert "pip cache hit true" in second, second
    assert any((home / ".cache" / "pip" / "wheels").rglob("blogtools-1.0-*.whl"))
    assert "Ran 1 test" in second
    report = next((home / ".cache" / "conveyor" / "runs").glob("*/artifacts/test-report-*"))
    with tarfile.open(next(report.glob("*.tar.gz"))) as archive:
        names = archive.getnames()
    assert any(name.endswith("tests.txt") for name in names), names
