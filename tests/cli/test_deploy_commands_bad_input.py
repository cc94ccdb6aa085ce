"""The deploy commands' bad input: one clear line, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_conveyor


@pytest.mark.parametrize(
    ("argv", "code", "said"),
    [
        (["deploy", "--target", "{t}"], 2, "--bind HOST:PORT is required to deploy"),
        (
            ["deploy", "--target", "ssh://deploy@host", "--bind", "127.0.0.1:9"],
            1,
            "the target needs an absolute directory after the host",
        ),
        (["rollback", "--target", "{t}"], 1, "has no current release to roll back"),
        (["deploy", "status", "--target", "{t}"], 0, "no releases"),
        (
            ["deploy", "--target", "{t}", "--bind", "127.0.0.1:9", "--project-dir", "nowhere"],
            1,
            "does not exist",
        ),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, argv: list[str], code: int, said: str):
    target = str(tmp_path / "srv")
    result = run_conveyor(*[arg.replace("{t}", target) for arg in argv], cwd=tmp_path)
    assert result.returncode == code, result.stdout + result.stderr
    assert said in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_rollback_to_a_release_that_is_not_there_says_so(tmp_path: Path) -> None:
    target = tmp_path / "srv"
    (target / "releases" / "20260101T000000000Z-aaaaaaa").mkdir(parents=True)
    (target / "current").symlink_to("releases/20260101T000000000Z-aaaaaaa")
    result = run_conveyor("rollback", "--target", str(target), "--to", "nope", cwd=tmp_path)
    assert result.returncode == 1
    assert "conveyor rollback: no release 'nope' in" in result.stderr
