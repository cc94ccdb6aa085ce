"""Settings split into a package (settings/base.py, settings/local.py): init reads them all.

manage.py names `mysite.settings.local`, which imports base.py, where STATIC_ROOT is set;
so Build collects the static files, and the pipeline runs green.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.django_projects import startproject
from tests.helpers import run_conveyor

pytestmark = pytest.mark.slow


def test_init_reads_a_settings_package(tmp_path: Path) -> None:
    project = startproject(tmp_path / "site")
    settings = project / "mysite" / "settings.py"
    package = project / "mysite" / "settings"
    package.mkdir()
    base = settings.read_text().replace(
        "Path(__file__).resolve().parent.parent", "Path(__file__).resolve().parent.parent.parent"
    )
    (package / "base.py").write_text(base + "\nSTATIC_ROOT = BASE_DIR / 'collected'\n")
    (package / "__init__.py").write_text("")
    (package / "local.py").write_text("from .base import *  # noqa\n\nDEBUG = True\n")
    settings.unlink()
    manage = project / "manage.py"
    manage.write_text(manage.read_text().replace("'mysite.settings'", "'mysite.settings.local'"))

    assert run_conveyor("init", cwd=project).returncode == 0

    text = (project / ".conveyor.yml").read_text()
    assert "      python manage.py collectstatic --noinput\n" in text
    result = run_conveyor("run", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project / "collected" / "admin" / "css" / "base.css").is_file()
    assert result.stdout.rstrip().endswith("pipeline_status: Deployed")
