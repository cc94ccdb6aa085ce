"""Bad input gives a clear message or a correct result: never a traceback, never a hang."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_conveyor


def write_pipeline(repo: Path, steps: str) -> None:
    (repo / ".conveyor.yml").write_text("steps:\n" + steps)


def finished(result, index: int = 0) -> dict:
    return next(e for e in result.events() if e["type"] == "step_finished" and e["step"] == index)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"steps:\n  - run: echo [unclosed\n    name: x: y\n", "2:"),
        (b"\x00\x01\x02binary\xff\xfe", "binary"),
        (b"steps: [" + b"a, " * 10 + b"\n", ".conveyor.yml:"),
        (b"", "empty"),
        (b"\xff\xfesteps:\n", "UTF-8"),
    ],
    ids=["yaml-syntax", "binary", "unclosed-flow", "empty", "not-utf8"],
)
def test_unreadable_workflows_exit_2_with_a_message(
    repo: Path, content: bytes, message: str
) -> None:
    (repo / ".conveyor.yml").write_bytes(content)
    result = run_conveyor("run", cwd=repo)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert ".conveyor.yml:" in result.stderr and message in result.stderr


def test_a_huge_workflow_file_is_refused(repo: Path) -> None:
    (repo / ".conveyor.yml").write_text("steps:\n" + "  - run: echo hi\n" * 200_000)
    result = run_conveyor("run", cwd=repo)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "MiB" in result.stderr or "too large" in result.stderr


def test_invalid_utf8_output_is_shown_with_replacement_characters(repo: Path) -> None:
    write_pipeline(repo, "  - run: printf 'caf\\xe9 \\xff\\xfe ok\\n'\n")
    result = run_conveyor("run", "--json", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert result.log_lines() == ["caf\ufffd \ufffd\ufffd ok"]


def test_output_that_never_ends_a_line_arrives_whole_in_pieces(repo: Path) -> None:
    write_pipeline(repo, "  - run: head -c 300000 /dev/zero | tr '\\0' x\n")
    result = run_conveyor("run", "--json", cwd=repo)
    assert result.returncode == 0, result.stderr
    lines = result.log_lines()
    assert "".join(lines) == "x" * 300_000
    assert max(len(line) for line in lines) <= 64 * 1024


def test_a_missing_shell_fails_the_step_with_a_clear_reason(repo: Path) -> None:
    write_pipeline(repo, "  - shell: no-such-shell {0}\n    run: echo hi\n  - run: echo after\n")
    result = run_conveyor("run", "--json", cwd=repo)
    assert result.returncode == 1
    step = finished(result)
    assert step["status"] == "failure"
    assert "no-such-shell" in step["reason"] and "not found" in step["reason"]
    assert finished(result, 1)["status"] == "skipped"
    assert "Traceback" not in result.stdout + result.stderr


def test_a_missing_working_directory_fails_the_step_with_a_clear_reason(repo: Path) -> None:
    write_pipeline(repo, "  - working-directory: no/such/dir\n    run: echo hi\n")
    result = run_conveyor("run", "--json", cwd=repo)
    assert result.returncode == 1
    reason = finished(result)["reason"]
    assert "working directory does not exist" in reason and "no/such/dir" in reason


def test_a_step_that_forks_a_daemon_and_exits_does_not_hang(repo: Path) -> None:
    write_pipeline(
        repo, "  - run: |\n      (sleep 600 &)\n      echo started\n  - run: echo next\n"
    )
    result = run_conveyor("run", "--json", cwd=repo, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.log_lines() == ["started", "next"]


def test_bad_command_line_values_exit_2(repo: Path) -> None:
    write_pipeline(repo, "  - run: echo hi\n")
    for args, message in [
        (["--secret", "=x"], "expected NAME=VALUE"),
        (["--secret", "NOT_IN_ENV_ANYWHERE"], "is not set"),
        (["--secret-file", "missing.env"], "no such file"),
        (["--jobs", "0"], "at least 1"),
        (["--workflow", "nope.yml"], "no such workflow file"),
    ]:
        result = run_conveyor("run", *args, cwd=repo)
        assert result.returncode == 2, args
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_secrets_from_a_dotenv_file_are_masked(repo: Path) -> None:
    (repo / ".secrets").write_text('API_KEY="multi\nline-value"\nOTHER=plain-secret\n')
    write_pipeline(
        repo,
        '  - run: echo "$K and ${{ secrets.OTHER }}"\n    env:\n      K: ${{ secrets.API_KEY }}\n',
    )
    result = run_conveyor("run", "--json", "--secret-file", ".secrets", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "plain-secret" not in result.stdout and "line-value" not in result.stdout
    assert "multi" not in " ".join(result.log_lines())
