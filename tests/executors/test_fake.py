"""FakeExecutor: each step does what its FAKE_* environment says, and is recorded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.executors.base import Cancellation, StepCommand, StepExit
from conveyor.executors.fake import FakeExecutor, FakeJobHost


@pytest.fixture
def executor() -> FakeExecutor:
    return FakeExecutor()


@pytest.fixture
def host(executor: FakeExecutor, tmp_path: Path) -> Iterator[FakeJobHost]:
    job_host = executor.prepare_job("build", str(tmp_path))
    yield job_host
    job_host.close()


def step(host: FakeJobHost, env: dict[str, str], **options: object) -> tuple[StepExit, list[bytes]]:
    chunks: list[bytes] = []
    command = StepCommand(
        ["bash", "-e", "script.sh"],
        host.workspace,
        env,
        chunks.append,
        **options,  # type: ignore[arg-type]
    )
    return host.run(command), chunks


def test_a_step_without_instructions_succeeds_silently(host: FakeJobHost) -> None:
    result, chunks = step(host, {})
    assert result == StepExit(exit_code=0)
    assert chunks == []


def test_exit_code_comes_from_the_env(host: FakeJobHost) -> None:
    assert step(host, {"FAKE_EXIT_CODE": "3"})[0] == StepExit(exit_code=3)


def test_output_lines_are_emitted_one_chunk_each(host: FakeJobHost) -> None:
    result, chunks = step(host, {"FAKE_OUTPUT": "Building...\nDone"})
    assert result.exit_code == 0
    assert chunks == [b"Building...\n", b"Done\n"]
    # Plain YAML scalars cannot hold a newline: a written `\n` separates lines too.
    _, chunks = step(host, {"FAKE_OUTPUT": r"one\ntwo"})
    assert chunks == [b"one\n", b"two\n"]


def test_output_can_be_split_into_fixed_size_chunks(host: FakeJobHost) -> None:
    _, chunks = step(host, {"FAKE_OUTPUT": "hello\nworld", "FAKE_CHUNK_SIZE": "4"})
    assert chunks == [b"hell", b"o\nwo", b"rld\n"]


def test_start_error_is_reported_without_output(host: FakeJobHost) -> None:
    result, chunks = step(host, {"FAKE_START_ERROR": "bash: not found", "FAKE_OUTPUT": "x"})
    assert result == StepExit(exit_code=None, error="bash: not found")
    assert chunks == []


def test_malformed_numbers_are_reported_by_variable(host: FakeJobHost) -> None:
    result, _ = step(host, {"FAKE_EXIT_CODE": "two"})
    assert result == StepExit(
        exit_code=None, error="fake step: FAKE_EXIT_CODE must be an integer, got 'two'"
    )
    result, _ = step(host, {"FAKE_SLEEP": "soon"})
    assert result.error == "fake step: FAKE_SLEEP must be a number of seconds, got 'soon'"


def test_github_files_get_the_lines_appended(host: FakeJobHost) -> None:
    temp = Path(host.temp_dir)
    output_file, env_file = temp / "output", temp / "env"
    output_file.write_text("earlier=1\n")
    env = {
        "GITHUB_OUTPUT": str(output_file),
        "GITHUB_ENV": str(env_file),
        "FAKE_GITHUB_OUTPUT": "version=1.2;notes<<EOF;line one;EOF",
        "FAKE_GITHUB_ENV": "STAGE=test",
    }
    assert step(host, env)[0] == StepExit(exit_code=0)
    assert output_file.read_text() == "earlier=1\nversion=1.2\nnotes<<EOF\nline one\nEOF\n"
    assert env_file.read_text() == "STAGE=test\n"


def test_a_github_file_variable_missing_fails_the_step(host: FakeJobHost) -> None:
    result, chunks = step(host, {"FAKE_GITHUB_OUTPUT": "a=1"})
    assert result == StepExit(exit_code=1)
    assert chunks == [b"fake step: GITHUB_OUTPUT is not set\n"]


def test_sleep_lasts_and_then_exits(host: FakeJobHost) -> None:
    started = time.monotonic()
    result, _ = step(host, {"FAKE_SLEEP": "0.1", "FAKE_EXIT_CODE": "2"})
    assert result == StepExit(exit_code=2)
    assert time.monotonic() - started >= 0.1


def test_sleep_is_cut_short_by_the_timeout(host: FakeJobHost) -> None:
    started = time.monotonic()
    result, chunks = step(host, {"FAKE_SLEEP": "30", "FAKE_OUTPUT": "working"}, timeout=0.1)
    assert result == StepExit(exit_code=None, timed_out=True)
    assert chunks == [b"working\n"]
    assert 0.1 <= time.monotonic() - started < 1.0


def test_sleep_is_cut_short_by_cancellation_from_another_thread(host: FakeJobHost) -> None:
    cancellation = Cancellation()
    threading.Timer(0.05, cancellation.cancel).start()
    started = time.monotonic()
    result, _ = step(host, {"FAKE_SLEEP": "30"}, cancellation=cancellation)
    assert result == StepExit(exit_code=None, cancelled=True)
    assert time.monotonic() - started < 1.0


def test_every_command_is_recorded(executor: FakeExecutor, tmp_path: Path) -> None:
    first = executor.prepare_job("build", str(tmp_path))
    second = executor.prepare_job("test", str(tmp_path))
    step(first, {"FAKE_OUTPUT": "a"})
    step(second, {"FAKE_START_ERROR": "nope"})
    step(first, {"FAKE_EXIT_CODE": "1"})
    assert [command.env for command in executor.commands] == [
        {"FAKE_OUTPUT": "a"},
        {"FAKE_START_ERROR": "nope"},
        {"FAKE_EXIT_CODE": "1"},
    ]
    assert [command.env for command in first.commands] == [
        {"FAKE_OUTPUT": "a"},
        {"FAKE_EXIT_CODE": "1"},
    ]
    assert executor.commands[0].argv == ["bash", "-e", "script.sh"]
    assert [host.job_key for host in executor.hosts] == ["build", "test"]
    first.close()
    second.close()


def test_the_temp_dir_is_real_and_removed_on_close(executor: FakeExecutor, tmp_path: Path) -> None:
    job_host = executor.prepare_job("build", str(tmp_path))
    assert executor.name == "fake"
    assert Path(job_host.temp_dir).is_dir()
    job_host.close()
    assert job_host.closed
    assert not Path(job_host.temp_dir).exists()
