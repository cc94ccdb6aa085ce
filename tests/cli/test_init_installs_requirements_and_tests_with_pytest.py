"""`conveyor init` reads what a Django project installs and how it tests.

A requirements.txt that lists pytest-django gives a Build that installs it and a Test
that runs pytest (told the settings module and the test files, which nothing else
names); the result runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.django_projects import startproject
from tests.helpers import conveyor_env, run_conveyor

pytestmark = pytest.mark.slow

PYTEST_DJANGO_TEST = """\
def test_the_admin_login_page_answers(client):
    assert client.get("/admin/login/").status_code == 200
"""


def test_init_installs_requirements_and_tests_with_pytest(tmp_path: Path) -> None:
    project = startproject(tmp_path / "site")
    (project / "requirements.txt").write_text("Django\npytest-django\n")
    # In the tests.py startapp wrote: pytest finds it only when told to look there.
    (project / "blog" / "tests.py").write_text(PYTEST_DJANGO_TEST)

    init = run_conveyor("init", cwd=project)

    assert init.returncode == 0, init.stderr
    text = (project / ".conveyor.yml").read_text()
    assert "python -m pip install -r requirements.txt" in text
    assert 'run: python -m pytest -o "python_files=tests.py test_*.py *_tests.py"\n' in text
    assert 'DJANGO_SETTINGS_MODULE: "mysite.settings"' in text
    assert "manage.py test" not in text

    # Everything the file installs is already in this venv: no index is needed.
    result = run_conveyor("run", "--json", cwd=project, env=conveyor_env(PIP_NO_INDEX="1"))

    assert result.returncode == 0, result.stdout + result.stderr
    assert any("Requirement already satisfied" in line for line in result.log_lines(step=0))
    assert any("1 passed" in line for line in result.log_lines(step=1))
    pipeline = next(e for e in result.events() if e["type"] == "pipeline")
    assert pipeline["pipeline_status"] == "Deployed"


def test_init_finds_pytest_from_its_configuration(tmp_path: Path) -> None:
    project = startproject(tmp_path / "site")
    (project / "pytest.ini").write_text(
        "[pytest]\nDJANGO_SETTINGS_MODULE = mysite.settings\npython_files = tests.py test_*.py\n"
    )

    assert run_conveyor("init", cwd=project).returncode == 0

    text = (project / ".conveyor.yml").read_text()
    assert "run: python -m pytest\n" in text
    # The settings come from pytest.ini: the pipeline does not override them.
    assert "DJANGO_SETTINGS_MODULE:" not in text
