"""`uses: ./path` whose action.yml does not exist: `conveyor validate` (and `run`, before
any step) exits 2 at the `uses:` value's file:line:column."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_conveyor

ACTION = """name: Greet
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "greeted"
"""


def test_a_missing_local_action_is_invalid_before_anything_runs(repo: Path) -> None:
    marker = repo / "first-step-ran"
    (repo / ".conveyor.yml").write_text(
        f"steps:\n  - run: touch '{marker}'\n  - uses: ./.github/actions/missing\n"
    )
    for command in ("validate", "run"):
        result = run_conveyor(command, cwd=repo)
        assert result.returncode == 2, result.stdout + result.stderr
        assert ".conveyor.yml:3:11: uses: ./.github/actions/missing" in result.stderr
        assert "no action.yml" in result.stderr
        assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_an_existing_local_action_is_valid_and_runs(repo: Path) -> None:
    (repo / ".github/actions/greet").mkdir(parents=True)
    (repo / ".github/actions/greet/action.yml").write_text(ACTION)
    (repo / ".conveyor.yml").write_text("steps:\n  - uses: ./.github/actions/greet\n")
    assert run_conveyor("validate", cwd=repo).returncode == 0
    result = run_conveyor("run", "--color", "never", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "greeted" in result.stdout
