"""How a ``run:`` script is started, as GitHub's Linux runner starts it."""

from __future__ import annotations

import os
import shlex
import shutil

from conveyor.engine.host_files import open_for_writing
from conveyor.records import record

# name -> (argv template, script file extension)
_BUILT_IN: dict[str, tuple[str, str]] = {
    "bash": ("bash --noprofile --norc -eo pipefail {0}", ".sh"),
    "sh": ("sh -e {0}", ".sh"),
    "python": ("python {0}", ".py"),
    "pwsh": ("pwsh -command \". '{0}'\"", ".ps1"),
    "powershell": ("powershell -command \". '{0}'\"", ".ps1"),
}
_EXTENSION_BY_PROGRAM = {
    "bash": ".sh",
    "sh": ".sh",
    "python": ".py",
    "python3": ".py",
    "pwsh": ".ps1",
    "powershell": ".ps1",
}


class ShellError(Exception):
    """A ``shell:`` value that is neither a known shell nor a template with ``{0}``."""


@record(frozen=True)
class ShellCommand:
    template: list[str]  # argv with "{0}" where the script path goes
    extension: str

    def argv(self, script_path: str) -> list[str]:
        return [part.replace("{0}", script_path) for part in self.template]


def resolve_shell(shell: str | None, search_path: str | None) -> ShellCommand:
    """The command for ``shell`` (``None``: the default), looking programs up on ``search_path``."""
    if shell is None or not shell.strip():
        # GitHub's default on Linux: bash -e, or sh -e where bash is missing.
        if shutil.which("bash", path=search_path):
            return ShellCommand(["bash", "-e", "{0}"], ".sh")
        return ShellCommand(["sh", "-e", "{0}"], ".sh")
    shell = shell.strip()
    if shell in _BUILT_IN:
        template, extension = _BUILT_IN[shell]
        argv = shlex.split(template)
        # Many Linux hosts only have python3; GitHub's images have both.
        if (
            shell == "python"
            and not shutil.which("python", path=search_path)
            and shutil.which("python3", path=search_path)
        ):
            argv[0] = "python3"
        return ShellCommand(argv, extension)
    if "{0}" not in shell:
        raise ShellError(
            f"shell {shell!r} is not a built-in shell (bash, sh, python, pwsh, powershell) "
            "and has no {0} for the script path"
        )
    try:
        argv = shlex.split(shell)
    except ValueError as error:
        raise ShellError(f"shell {shell!r} cannot be split into words: {error}") from None
    program = argv[0].rsplit("/", 1)[-1] if argv else ""
    return ShellCommand(argv, _EXTENSION_BY_PROGRAM.get(program, ""))


def write_script(path: str, script: str) -> None:
    """Put a step's script in ``path``, overwriting the previous step's in place.

    Overwriting and then cutting the file to length costs a few microseconds;
    truncating it first (what ``open(path, "w")`` does) frees its blocks and
    costs ~140 us on a disk-backed temp dir: per step, that is the benchmark.
    """
    data = script.encode("utf-8")
    # The previous step could have swapped the file for a link: see host_files.
    fd = open_for_writing(path)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)
