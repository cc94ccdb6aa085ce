"""The Python interpreters this machine has, for ``actions/setup-python``.

Where GitHub's runners keep a tool cache, a developer's machine has pyenv
(``$PYENV_ROOT/versions/*``), uv's managed interpreters, Conveyor's own tool cache
(``<store>/tools/python``, filled by ``uv python install``) and the interpreters
on PATH and in ``/usr/local/bin`` and ``/usr/bin``. Installations named by their
version (pyenv, uv) are taken at their word, so finding them runs nothing; a bare
``python3.11`` is asked once for its version, and the answer is kept for the life
of the process (keyed by the file's identity, so a replaced binary is asked again).
Virtual environments and pyenv's shims are not installations and are skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from conveyor.actions.machine_tools import ask_once, list_directory, output_of
from conveyor.actions.version_specs import SpecError, Version

_PYENV_NAME = re.compile(
    r"^(?P<pypy>pypy)?(?P<version>\d+\.\d+(?:\.\d+)?(?:[a-z]+\d+)?)(?P<t>t)?"
    r"(?:-v?(?P<pypy_version>\d+\.\d+\.\d+))?$"
)
_UV_NAME = re.compile(
    r"^(?P<impl>cpython|pypy)-(?P<version>\d+\.\d+\.\d+(?:[a-z]+\d+)?)(?P<ft>\+freethreaded)?-"
)
_EXECUTABLE_NAME = re.compile(r"^(?:python|pypy)(?:\d+(?:\.\d+)?t?)?$")
_SYSTEM_DIRECTORIES = ("/usr/local/bin", "/usr/bin")
_PROBE = (
    "import sys\n"
    "v = sys.version_info\n"
    "impl = getattr(getattr(sys, 'implementation', None), 'name', None) or 'cpython'\n"
    "try:\n"
    "    import sysconfig\n"
    "    ft = int(bool(sysconfig.get_config_var('Py_GIL_DISABLED')))\n"
    "except Exception:\n"
    "    ft = 0\n"
    "pypy = getattr(sys, 'pypy_version_info', None)\n"
    "pypy = '.'.join(str(p) for p in pypy[:3]) if pypy else '-'\n"
    "fields = (v[0], v[1], v[2], v[3], v[4], impl, ft, pypy)\n"
    "sys.stdout.write('%d %d %d %s %d %s %d %s\\n' % fields)\n"
    "sys.stdout.write(getattr(sys, 'base_prefix', sys.prefix) + '\\n')\n"
)
_LEVELS = {"alpha": "a", "beta": "b", "candidate": "rc"}


@dataclass(frozen=True)
class Interpreter:
    executable: str  # what to run; its directory is the installation's bin
    version: Version
    location: str  # pythonLocation: the installation's prefix
    source: str  # where it was found, for messages
    implementation: str = "cpython"  # or "pypy"
    freethreaded: bool = False
    pypy_version: str = ""

    def describe(self) -> str:
        name = str(self.version)
        if self.is_pypy:
            name = f"pypy{self.version.minor} (PyPy {self.pypy_version or '?'})"
        if self.freethreaded:
            name += "t"
        return f"{name} ({self.source}: {self.executable})"

    @property
    def is_pypy(self) -> bool:
        return self.implementation == "pypy"


def find_interpreters(
    environ: dict[str, str], tool_cache: str, may_run: Callable[[str], bool]
) -> list[Interpreter]:
    """Every interpreter found, best sources first (tool cache, pyenv, uv, PATH, system).

    ``may_run(path)`` says whether a bare interpreter may be asked its version: the
    directories come from the job's environment, and the engine must never run a file
    a sandboxed job could have written.
    """
    home = environ.get("HOME") or os.path.expanduser("~")
    found: list[Interpreter] = []
    found += _uv_layout(os.path.join(tool_cache, "python"), "Conveyor's tool cache")
    pyenv_root = environ.get("PYENV_ROOT") or os.path.join(home, ".pyenv")
    found += _pyenv(os.path.join(pyenv_root, "versions"))
    uv_root = environ.get("UV_PYTHON_INSTALL_DIR") or os.path.join(
        environ.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share"), "uv", "python"
    )
    found += _uv_layout(uv_root, "uv")
    directories = [entry for entry in environ.get("PATH", "").split(os.pathsep) if entry]
    for directory in [*directories, *_SYSTEM_DIRECTORIES]:
        source = "PATH" if directory in directories else "system"
        found += _bare(directory, source, may_run)
    # /usr/bin/python3 and /usr/bin/python3.11 are one interpreter; two names pyenv
    # gives one installation are two (what a name says is what is asked for).
    unique: dict[tuple[str, Version, bool], Interpreter] = {}
    for interpreter in found:
        key = (
            os.path.realpath(interpreter.executable),
            interpreter.version,
            interpreter.freethreaded,
        )
        unique.setdefault(key, interpreter)
    return list(unique.values())


def _pyenv(versions: str) -> list[Interpreter]:
    found = []
    for name in list_directory(versions):
        prefix = os.path.join(versions, name)
        if os.path.exists(os.path.join(prefix, "pyvenv.cfg")):
            continue  # a pyenv-virtualenv environment, not an installation
        match = _PYENV_NAME.match(name)
        executable = _executable_in(prefix)
        if executable is None:
            continue
        if match is None:
            probed = _probe(executable, "pyenv")
            if probed is not None:
                found.append(replace(probed, location=prefix))
            continue
        try:
            version = Version.parse(match["version"])
        except SpecError:
            continue
        found.append(
            Interpreter(
                executable,
                version,
                prefix,
                "pyenv",
                "pypy" if match["pypy"] else "cpython",
                bool(match["t"]),
                match["pypy_version"] or "",
            )
        )
    return found


def _uv_layout(root: str, source: str) -> list[Interpreter]:
    found = []
    for name in list_directory(root):
        match = _UV_NAME.match(name)
        prefix = os.path.join(root, name)
        executable = _executable_in(prefix)
        if match is None or executable is None:
            continue
        try:
            version = Version.parse(match["version"])
        except SpecError:
            continue
        found.append(
            Interpreter(executable, version, prefix, source, match["impl"], bool(match["ft"]))
        )
    return found


def _bare(directory: str, source: str, may_run: Callable[[str], bool]) -> list[Interpreter]:
    """Interpreters by file name in a bin directory, asked for their version."""
    if os.path.basename(directory.rstrip("/")) == "shims" or os.path.exists(
        os.path.join(os.path.dirname(directory.rstrip("/")), "pyvenv.cfg")
    ):
        return []  # pyenv's dispatchers; a virtual environment's interpreter
    found = []
    for name in list_directory(directory):
        if not _EXECUTABLE_NAME.match(name):
            continue
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK) and may_run(path):
            probed = _probe(path, source)
            if probed is not None:
                found.append(probed)
    return found


def _executable_in(prefix: str) -> str | None:
    bin_directory = os.path.join(prefix, "bin")
    names = list_directory(bin_directory)
    for preferred in ("python", "python3", "pypy3", "pypy"):
        if preferred in names:
            return os.path.join(bin_directory, preferred)
    for name in names:
        if re.match(r"^python\d+\.\d+t?$", name):
            return os.path.join(bin_directory, name)
    return None


def _probe(executable: str, source: str) -> Interpreter | None:
    """Ask ``executable`` what it is, once per file for the life of the process."""
    found = ask_once("python", executable, _ask)
    return None if found is None else replace(found, source=source)


def _ask(executable: str) -> Interpreter | None:
    # -E -s: no PYTHON* variables, no user site; both known to Python 2 too.
    output = output_of([executable, "-E", "-s", "-c", _PROBE])
    lines = (output or "").splitlines()
    return _parse_probe(lines, executable, "") if len(lines) >= 2 else None


def _parse_probe(lines: list[str], executable: str, source: str) -> Interpreter | None:
    try:
        major, minor, micro, level, serial, implementation, freethreaded, pypy = lines[0].split()
        suffix = "" if level == "final" else f"{_LEVELS.get(level, 'a')}{serial}"
        version = Version.parse(f"{major}.{minor}.{micro}{suffix}")
    except (ValueError, SpecError):
        return None
    return Interpreter(
        executable,
        version,
        lines[1].strip(),
        source,
        implementation,
        freethreaded == "1",
        "" if pypy == "-" else pypy,
    )
