"""`conveyor run` on a GitHub-style CI workflow: setup-python over a matrix, setup-node and
github-script, with the machine's real interpreters and node, and nothing downloaded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.actions.python_machine import INSTALLATIONS, machine_env, needs_three
from tests.helpers import conveyor_env, run_conveyor

pytestmark = [
    needs_three,
    pytest.mark.skipif(shutil.which("node", path="/usr/bin") is None, reason="needs node"),
]

WORKFLOW = """\
name: CI
on: [push, pull_request]
jobs:
  tests:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python-version: ["{old}", "{new}"]
    steps:
      - uses: actions/checkout@v4
      - name: Set up Python ${{{{ matrix.python-version }}}}
        id: py
        uses: actions/setup-python@v5
        with:
          python-version: ${{{{ matrix.python-version }}}}
          cache: pip
      - uses: actions/setup-node@v4
        with:
          node-version-file: .nvmrc
      - id: meta
        uses: actions/github-script@v7
        with:
          result-encoding: string
          script: return `${{context.repo.repo}} on ${{context.eventName}}`
      - name: Test
        run: |
          python -c "import sys; print('python', '%d.%d' % sys.version_info[:2])"
          node -e "console.log('node', process.versions.node.split('.')[0])"
          echo "${{{{ steps.meta.outputs.result }}}}"
"""


def test_a_matrix_ci_workflow_runs_green_on_this_machine(repo: Path, tmp_path: Path):
    old, new = INSTALLATIONS[-3].version.minor, INSTALLATIONS[-1].version.minor
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW.format(old=old, new=new))
    (repo / ".nvmrc").write_text("lts/*\n")
    # cache: pip keys on the dependency files; with none, setup-python fails, as on GitHub.
    (repo / "requirements.txt").write_text("# nothing to install\n")
    machine = machine_env(tmp_path)
    env = conveyor_env(
        PYENV_ROOT=machine["PYENV_ROOT"],
        HOME=machine["HOME"],
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    result = run_conveyor("run", cwd=repo, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    for minor in (old, new):
        assert f"| python {minor}" in result.stdout
    assert "| node " in result.stdout
    assert "| repo on push" in result.stdout
