"""`conveyor init` on what `django-admin startproject` + `startapp` make: a pipeline that passes.

A stock project sets no STATIC_ROOT, so collectstatic would fail; init leaves it out of
Build and says why in a comment, and the seed's Build, Test, Deploy shape stays.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.django_projects import startproject
from tests.helpers import run_conveyor

pytestmark = pytest.mark.slow


def test_init_on_a_stock_django_project_runs_green(tmp_path: Path) -> None:
    project = startproject(tmp_path / "site")

    init = run_conveyor("init", cwd=project)

    assert init.returncode == 0, init.stderr
    assert "(Django pipeline, 3 steps)" in init.stdout
    text = (project / ".conveyor.yml").read_text()
    assert "# Build does not run `manage.py collectstatic`: mysite/settings.py sets no" in text
    assert "STATIC_ROOT" in text
    # Nothing to install: the file says where Django comes from.
    assert "the Django of the `python` on" in text
    yaml_lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not any("collectstatic" in line for line in yaml_lines)

    result = run_conveyor("run", "--json", cwd=project)

    assert result.returncode == 0, result.stdout + result.stderr
    finished = [e for e in result.events() if e["type"] == "step_finished"]
    assert [e["status"] for e in finished] == ["success", "success", "success"]
    pipeline = next(e for e in result.events() if e["type"] == "pipeline")
    assert pipeline["pipeline_status"] == "Deployed"
    assert [row["action"] for row in pipeline["table"]][:3] == [
        "Build Stage",
        "Test Stage",
        "Deploy Stage",
    ]
    assert any("System check identified no issues" in line for line in result.log_lines(step=0))
    assert any("Ran 0 tests" in line for line in result.log_lines(step=1))
