"""``conveyor run`` lists the run's artifacts at its end: plain text and ``--json``."""

from __future__ import annotations

import tarfile
from pathlib import Path

from tests.helpers import conveyor_env, git, run_conveyor

WORKFLOW = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p reports && echo '<testsuite/>' > reports/junit.xml
      - uses: actions/upload-artifact@v4
        with:
          name: test-report
          path: reports/
"""


def make_project(repo: Path) -> None:
    (repo / ".conveyor.yml").write_text(WORKFLOW)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "workflow", cwd=repo)


def test_plain_output_ends_with_the_artifacts_and_where_they_are(repo: Path, tmp_path: Path):
    make_project(repo)
    cache = tmp_path / "cache"
    result = run_conveyor("run", cwd=repo, env=conveyor_env(XDG_CACHE_HOME=str(cache)))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("ARTIFACT ")]
    assert len(lines) == 1
    name, size, files, path = lines[0].removeprefix("ARTIFACT ").split("  ")
    assert (name, files) == ("test-report", "1 file(s)")
    assert path.startswith(str(cache / "conveyor" / "runs"))
    assert size == f"{Path(path).stat().st_size} B"
    with tarfile.open(path) as archive:
        assert archive.getnames() == ["junit.xml"]
    run_end = result.stdout.splitlines().index(lines[0]) + 1
    assert result.stdout.splitlines()[run_end].startswith("RUN SUCCESS")


def test_json_has_an_artifacts_event_before_run_finished(repo: Path, tmp_path: Path):
    make_project(repo)
    env = conveyor_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    result = run_conveyor("run", "--json", cwd=repo, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    types = [event["type"] for event in result.events()]
    assert types.index("artifacts") == types.index("run_finished") - 1
    (event,) = [e for e in result.events() if e["type"] == "artifacts"]
    (artifact,) = event["artifacts"]
    assert artifact["name"] == "test-report" and artifact["files"] == 1
    assert artifact["job_key"] == "build"
    assert Path(artifact["path"]).stat().st_size == artifact["size"]
    assert artifact["url"].startswith("file://")


def test_a_run_without_uploads_has_no_artifacts_event(repo: Path, tmp_path: Path):
    (repo / ".conveyor.yml").write_text("steps:\n  - run: echo hi\n")
    env = conveyor_env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    result = run_conveyor("run", "--json", cwd=repo, env=env)
    assert result.returncode == 0
    assert "artifacts" not in [event["type"] for event in result.events()]
    assert "ARTIFACT" not in run_conveyor("run", cwd=repo, env=env).stdout
