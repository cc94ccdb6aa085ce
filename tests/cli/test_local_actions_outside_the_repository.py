"""`conveyor validate`/`run` with a local action outside the repository: refused, nothing run."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_conveyor

OUTSIDE_ACTION = """name: Escapee
runs:
  using: composite
  steps:
    - shell: bash
      run: touch '{marker}'
"""


def test_a_uses_path_that_goes_up_exits_2_before_anything_runs(repo: Path) -> None:
    marker = repo.parent / "marker"
    (repo / ".conveyor.yml").write_text(
        f"steps:\n  - run: touch '{marker}'\n  - uses: ./tools/../../shared\n"
    )
    for command in ("validate", "run"):
        result = run_conveyor(command, cwd=repo)
        assert result.returncode == 2, result.stdout + result.stderr
        assert (
            ".conveyor.yml:3:11: uses: ./tools/../../shared points outside the repository"
            in result.stderr
        )
        assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_a_symlink_to_an_action_outside_fails_the_step_and_runs_nothing(repo: Path) -> None:
    outside = repo.parent / "outside"
    outside.mkdir()
    marker = repo.parent / "marker"
    (outside / "action.yml").write_text(OUTSIDE_ACTION.format(marker=marker))
    (repo / "shared").symlink_to(outside)
    (repo / ".conveyor.yml").write_text("steps:\n  - uses: ./shared\n")
    result = run_conveyor("run", "--json", cwd=repo)
    assert result.returncode == 1, result.stdout + result.stderr
    [step] = [e for e in result.events() if e["type"] == "step_finished"]
    assert step["status"] == "failure"
    assert step["reason"].startswith(".conveyor.yml:2:11: ./shared: refused: ")
    assert f"resolves to {outside}, outside the workspace" in step["reason"]
    assert "Traceback" not in result.stdout + result.stderr
    assert not marker.exists()
