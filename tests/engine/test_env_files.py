"""Parsing GITHUB_OUTPUT / GITHUB_ENV: NAME=value and NAME<<DELIMITER blocks."""

from __future__ import annotations

import os

import pytest

from conveyor.engine.env_files import EnvFileError, StepFiles, parse_key_values, read_path_entries


def test_simple_and_heredoc_values():
    text = "a=1\nb=x=y\n\nlong<<EOF\nline one\nline two\nEOF\nc=\n"
    assert parse_key_values(text, "GITHUB_OUTPUT") == {
        "a": "1",
        "b": "x=y",
        "long": "line one\nline two",
        "c": "",
    }


def test_heredoc_with_an_equals_sign_after_the_delimiter_marker():
    assert parse_key_values('json<<END\n{"a": 1}\nEND\n', "GITHUB_OUTPUT") == {"json": '{"a": 1}'}


def test_missing_delimiter_is_a_clear_error():
    with pytest.raises(EnvFileError) as error:
        parse_key_values("ok=1\nbody<<STOP\nno end\n", "GITHUB_ENV")
    assert "GITHUB_ENV line 2" in str(error.value) and "'STOP'" in str(error.value)


def test_a_line_that_is_neither_form_is_a_clear_error():
    with pytest.raises(EnvFileError) as error:
        parse_key_values("just words\n", "GITHUB_OUTPUT")
    assert "GITHUB_OUTPUT line 1" in str(error.value) and "just words" in str(error.value)


def test_fresh_files_and_path_entries(tmp_path):
    files = StepFiles.create(str(tmp_path), "step1")
    assert set(files.environment()) == {
        "GITHUB_OUTPUT",
        "GITHUB_ENV",
        "GITHUB_PATH",
        "GITHUB_STATE",
        "GITHUB_STEP_SUMMARY",
    }
    with open(files.path, "a") as handle:
        handle.write("/opt/one\n\n/opt/two\n")
    assert read_path_entries(files.path) == ["/opt/one", "/opt/two"]
    # A second create empties them again.
    files = StepFiles.create(str(tmp_path), "step1")
    assert read_path_entries(files.path) == []


def test_renewed_files_are_empty_and_at_new_paths(tmp_path):
    first = StepFiles.create(str(tmp_path), "step1")
    with open(first.output, "a") as handle:
        handle.write("answer=42\n")
    second = first.renewed(str(tmp_path), "step2")
    # GitHub documents that these paths change from step to step.
    assert set(first.paths()).isdisjoint(second.paths())
    assert all(os.path.getsize(path) == 0 for path in second.paths())
    assert not any(os.path.exists(path) for path in first.paths())
    os.unlink(second.env)  # a step may delete one; the next still gets it
    third = second.renewed(str(tmp_path), "step3")
    assert all(os.path.exists(path) for path in third.paths())
