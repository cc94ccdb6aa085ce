"""Settings that read STATIC_ROOT from the environment: init's Build sets it and collects.

No requirements file: the project's pyproject.toml lists its dependencies (no build
system, so it is not a package to install) and Build installs those.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.django_projects import append, startproject
from tests.helpers import conveyor_env, run_conveyor

pytestmark = pytest.mark.slow


def test_init_sets_the_static_root_the_settings_read(tmp_path: Path) -> None:
    project = startproject(tmp_path / "site")
    append(
        project / "mysite" / "settings.py",
        '\nimport os\n\nSTATIC_ROOT = os.environ.get("WEB_STATIC")\n',
    )
    (project / "pyproject.toml").write_text(
        '[project]\nname = "site"\nversion = "1"\ndependencies = ["Django>=4.2"]\n'
    )

    assert run_conveyor("init", cwd=project).returncode == 0

    text = (project / ".conveyor.yml").read_text()
    assert "python -m pip install 'Django>=4.2'" in text
    assert "pip install -e" not in text
    assert "python manage.py collectstatic --noinput" in text
    assert 'WEB_STATIC: "${{ github.workspace }}/staticfiles"' in text

    result = run_conveyor("run", "--json", cwd=project, env=conveyor_env(PIP_NO_INDEX="1"))

    assert result.returncode == 0, result.stdout + result.stderr
    # collectstatic really copied the admin's files into the workspace.
    assert (project / "staticfiles" / "admin" / "css" / "base.css").is_file()
    pipeline = next(e for e in result.events() if e["type"] == "pipeline")
    assert pipeline["pipeline_status"] == "Deployed"
