"""Shell resolution: GitHub's Linux runner command lines and script extensions."""

from __future__ import annotations

import os

import pytest

from conveyor.engine.shells import ShellError, resolve_shell

PATH = os.environ.get("PATH", "")


def test_default_is_bash_e_when_bash_exists():
    shell = resolve_shell(None, PATH)
    assert shell.argv("/t/s.sh") == ["bash", "-e", "/t/s.sh"] and shell.extension == ".sh"


def test_default_falls_back_to_sh_without_bash(tmp_path):
    (tmp_path / "sh").symlink_to("/bin/sh")
    shell = resolve_shell(None, str(tmp_path))
    assert shell.argv("/t/s.sh") == ["sh", "-e", "/t/s.sh"]


def test_named_shells():
    assert resolve_shell("bash", PATH).argv("/s") == [
        "bash",
        "--noprofile",
        "--norc",
        "-eo",
        "pipefail",
        "/s",
    ]
    assert resolve_shell("sh", PATH).argv("/s") == ["sh", "-e", "/s"]
    python = resolve_shell("python", PATH)
    assert python.argv("/s.py")[1:] == ["/s.py"] and python.extension == ".py"
    assert python.argv("/s.py")[0] in ("python", "python3")


def test_custom_shell_template_and_extension():
    perl = resolve_shell("perl -w {0}", PATH)
    assert perl.argv("/t/x") == ["perl", "-w", "/t/x"] and perl.extension == ""
    assert resolve_shell("bash -x {0}", PATH).extension == ".sh"


def test_unknown_shell_without_placeholder_is_refused():
    with pytest.raises(ShellError, match="not a built-in shell"):
        resolve_shell("fish", PATH)
