"""`conveyor init --help` says what it writes, and step counts agree with their number."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_conveyor


def test_init_help_says_what_it_writes(tmp_path: Path) -> None:
    result = run_conveyor("init", "--help", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "seed" not in result.stdout
    assert "Write .conveyor.yml" in result.stdout
    assert "Build, Test and Deploy" in result.stdout
    assert "seed" not in run_conveyor("--help", cwd=tmp_path).stdout


def test_one_step_is_counted_as_one_step(repo: Path) -> None:
    (repo / ".conveyor.yml").write_text("steps:\n  - run: echo only\n")

    result = run_conveyor("validate", cwd=repo)

    assert result.returncode == 0, result.stderr
    assert "(1 job, 1 step)" in result.stdout
