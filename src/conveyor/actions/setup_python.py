"""``actions/setup-python``: one of this machine's interpreters, set up as GitHub sets it up.

The version asked for (``python-version``, ``python-version-file`` or the
workspace's ``.python-version``) is matched against the interpreters found on
this machine (python_interpreters.py); the best match is put on PATH with the
environment GitHub's action sets. When none matches and uv is at hand, ``uv
python install`` fetches it into Conveyor's tool cache; otherwise the step fails
naming the versions there are.

PATH gets the installation's prefix and ``bin`` as on GitHub, and ``python``,
``python3``, ``python3.X`` and ``pip`` lead to the chosen interpreter: many
installations (Debian's ``/usr/bin/python3.11``) have no bare ``python``. As on
GitHub the interpreter itself is used, and ``pip install`` installs into it, where
it can: into a system interpreter marked EXTERNALLY-MANAGED (PEP 668), or one the
job may not write (a sandboxed job's ``/usr``), pip cannot install, so a virtual
environment of the job's own stands in for it (the system's packages visible, so
the distribution's pip serves) and ``pythonLocation`` names it.

In a sandboxed job only the interpreters the sandbox shows (``/usr``, ``/opt``)
count: the others are named in the error, never lent to the job.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import subprocess
from dataclasses import dataclass
from typing import Any

from conveyor.actions.action_inputs import ActionInputs
from conveyor.actions.action_steps import ActionFailed, at_uses, fail, job_env, log_index
from conveyor.actions.dependency_cache import restore_dependencies
from conveyor.actions.in_job_shell import run_shell
from conveyor.actions.machine_tools import find_uv
from conveyor.actions.python_interpreters import Interpreter, find_interpreters
from conveyor.actions.version_specs import SpecError, VersionSpec, parse_spec
from conveyor.actions.workspace_files import read_workspace_file
from conveyor.engine.events import Status
from conveyor.engine.options import default_store_dir
from conveyor.engine.step_types import ActionHost, StepOutcome, StepScope
from conveyor.workflow.model import Step

INPUTS = {
    "python-version": "",
    "python-version-file": "",
    "cache": "",
    "architecture": "",
    "check-latest": "false",
    "token": "",
    "cache-dependency-path": "",
    "update-environment": "true",
    "allow-prereleases": "false",
    "freethreaded": "false",
    "pip-version": "",
    "pip-install": "",
    "ignore-platform-version": "",
}
# What each package manager keeps, and the files whose change invalidates it.
CACHE_MANAGERS = {
    "pip": ["**/requirements*.txt", "**/pyproject.toml"],
    "pipenv": ["**/Pipfile.lock"],
    "poetry": ["**/poetry.lock"],
    "uv": ["**/uv.lock", "**/requirements*.txt", "**/pyproject.toml"],
}
ARCHITECTURES = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}

# Runs in the job, with the job's permissions: proves the interpreter runs there, says
# whether pip could install into it, and gives it the usual names. Where pip could
# not (a system Python marked EXTERNALLY-MANAGED, or one the job may not write), a
# virtual environment of the job's own stands in, the system's packages visible.
_PREPARE = """
python=$1 location=$2 names=$3 venv=$4
# -S: the probe needs no site-packages, and skipping site halves the interpreter's start.
answer=$("$python" -S -c "$SETUP_PYTHON_PROBE")
mode=${answer%% *} version=${answer#* }
echo "Using Python $version at $python"
[ -n "$location" ] || exit 0
target=$python bin=$names
if [ "$mode" != direct ] && [ -n "$venv" ]; then
  if "$python" -m venv --without-pip --system-site-packages "$venv"; then
    echo "pip cannot install into $python ($mode): this job's virtual environment" \\
      "$venv stands in for it, with the system's packages visible"
    target=$venv/bin/python bin=$venv/bin
  else
    echo "pip cannot install into $python ($mode), and no virtual environment could be made"
  fi
fi
[ -d "$bin" ] || mkdir -p "$bin"
shift 4
pip_line='exec "$(dirname "$0")/python" -m pip "$@"'
# The names may be shared with other jobs: each is replaced whole, by a rename. A name
# already right (the usual case from the second run on) is left as it is, and the checks
# are shell built-ins: no process started for it.
for name in "$@"; do
  case "$name" in
    pip*) if [ -x "$bin/$name" ] && [ ! -L "$bin/$name" ] && {
               IFS= read -r first && IFS= read -r second && ! IFS= read -r third
             } < "$bin/$name" && [ "$first" = '#!/bin/sh' ] && [ "$second" = "$pip_line" ]
          then continue; fi
          printf '#!/bin/sh\\n%s\\n' "$pip_line" > "$bin/.$name.$$"
          chmod 755 "$bin/.$name.$$" ;;
    *) [ "$bin" = "$names" ] || continue
       [ -L "$bin/$name" ] && [ "$bin/$name" -ef "$python" ] && continue
       ln -sfn "$python" "$bin/.$name.$$" ;;
  esac
  mv -fT "$bin/.$name.$$" "$bin/$name"
done
printf 'python-path=%s\\n' "$target" >> "$GITHUB_OUTPUT"
if [ "$bin" = "$names" ]; then
  printf 'pythonLocation=%s\\n' "$location" >> "$GITHUB_ENV"
  printf '%s\\n' "$names" "$location" "$location/bin" >> "$GITHUB_PATH"
else
  printf 'pythonLocation=%s\\n' "$venv" >> "$GITHUB_ENV"
  printf '%s\\n' "$location" "$location/bin" "$bin" >> "$GITHUB_PATH"
fi
"""
# Python 2 compatible: "<direct|why pip cannot> <version>".
_PROBE = (
    "import os, sys, sysconfig\n"
    "paths = sysconfig.get_paths()\n"
    "managed = os.path.exists(os.path.join(paths['stdlib'], 'EXTERNALLY-MANAGED'))\n"
    "writable = os.access(paths['purelib'], os.W_OK)\n"
    "mode = 'externally-managed' if managed else ('direct' if writable else 'read-only')\n"
    "print('%s %s' % (mode, sys.version.split()[0]))\n"
)


@dataclass(frozen=True)
class PythonRequest:
    """One line of ``python-version``, read."""

    text: str
    spec: VersionSpec
    pypy: bool = False
    pypy_spec: VersionSpec | None = None
    freethreaded: bool = False
    prereleases: bool = False


def run_setup_python(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
) -> StepOutcome:
    try:
        return _setup(
            host, step, scope, ActionInputs(host, step, scope, contexts, INPUTS), step_env
        )
    except ActionFailed as problem:
        return fail(host, step, scope, at_uses(step, str(problem)))


def _setup(
    host: ActionHost, step: Step, scope: StepScope, inputs: ActionInputs, step_env: dict[str, str]
) -> StepOutcome:
    index = log_index(step, scope)
    env = job_env(host, scope, step_env)
    check_architecture(inputs.text("architecture"))
    texts = _requested_versions(host, inputs, index)
    if not texts:
        host.warn(
            index,
            "neither python-version nor python-version-file was given and the workspace "
            "has no .python-version: the python on PATH is used as it is",
        )
        return StepOutcome(Status.SUCCESS)
    if inputs.toolkit_boolean("check-latest"):
        host.log_line(
            index,
            "check-latest: Conveyor uses the newest matching interpreter on this machine "
            "(and installs one with uv only when none matches)",
        )
    # Every input is checked before anything changes in the job.
    manager = inputs.text("cache")
    if manager and manager not in CACHE_MANAGERS:
        raise ActionFailed(
            f"cache: {manager!r} is not supported; use one of {', '.join(CACHE_MANAGERS)}"
        )
    pip_version = inputs.text("pip-version")
    if pip_version and not re.fullmatch(r"\d+(\.\d+){0,2}", pip_version):
        raise ActionFailed(f"pip-version must be major[.minor][.patch], got {pip_version!r}")
    allow_prereleases = inputs.toolkit_boolean("allow-prereleases")
    freethreaded = inputs.toolkit_boolean("freethreaded")
    requests = [_parse_request(text, allow_prereleases, freethreaded) for text in texts]

    environ = {**host.options.base_env, **env}
    tool_cache = os.path.join(host.options.store_dir or default_store_dir(environ), "tools")
    found = find_interpreters(environ, tool_cache, host.can_use_tool)
    visible = [interpreter for interpreter in found if host.can_use_tool(interpreter.executable)]

    update_environment = inputs.toolkit_boolean("update-environment")
    outcome = StepOutcome(Status.SUCCESS)
    chosen: Interpreter | None = None
    for request in requests:
        chosen = _choose(request, visible)
        if chosen is None:
            chosen = _install_with_uv(host, index, request, environ, tool_cache)
        if chosen is None:
            raise ActionFailed(_not_found(request, visible, found))
        prepared = _prepare(host, step, scope, env, chosen, update_environment, tool_cache)
        if prepared.outcome != Status.SUCCESS:
            return prepared
    assert chosen is not None
    # The interpreter, or the job's virtual environment standing in for it.
    python = prepared.outputs.get("python-path") or chosen.executable
    outcome.outputs = {"python-version": _version_output(chosen), "python-path": python}
    if pip_version:
        upgraded = run_shell(
            host,
            step,
            scope,
            env,
            '"$@"',
            [python, "-m", "pip", "install", "--upgrade", f"pip=={pip_version}"],
        )
        if upgraded.outcome != Status.SUCCESS:
            return upgraded
    pip_install = inputs.text("pip-install")
    if pip_install:
        installed = run_shell(
            host, step, scope, env, '"$@"', [python, "-m", "pip", "install", *pip_install.split()]
        )
        if installed.outcome != Status.SUCCESS:
            return installed
    if manager:
        outcome.outputs["cache-hit"] = str(
            _restore_cache(host, step, scope, inputs, env, manager, chosen, python)
        ).lower()
    return outcome


def _requested_versions(host: ActionHost, inputs: ActionInputs, index: int) -> list[str]:
    """The version lines asked for, the last being the default; [] when none is."""
    if inputs.given("python-version"):
        if inputs.given("python-version-file"):
            host.warn(
                index,
                "both python-version and python-version-file are given: "
                "python-version-file is ignored",
            )
        return inputs.lines("python-version")
    file_name = inputs.text("python-version-file")
    if file_name:
        text = read_workspace_file(host, file_name, "python-version-file")
        if text is None:
            raise ActionFailed(f"the python-version-file {file_name!r} does not exist")
        versions = versions_from_file(file_name, text)
        if not versions:
            raise ActionFailed(f"no Python version found in {file_name!r}")
        return versions
    text = read_workspace_file(host, ".python-version", "the default .python-version")
    return [] if text is None else versions_from_file(".python-version", text)


def versions_from_file(file_name: str, text: str) -> list[str]:
    """The versions a version file names, as setup-python reads each kind."""
    base = os.path.basename(file_name)
    if base == "pyproject.toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ActionFailed(f"{file_name}: not valid TOML: {error}") from None
        value = data.get("project", {}).get("requires-python") or (
            data.get("tool", {}).get("poetry", {}).get("dependencies", {}).get("python")
        )
        return [str(value).strip()] if value else []
    if base == "Pipfile":
        import tomllib

        try:
            requires = tomllib.loads(text).get("requires", {})
        except tomllib.TOMLDecodeError as error:
            raise ActionFailed(f"{file_name}: not valid TOML: {error}") from None
        value = requires.get("python_full_version") or requires.get("python_version")
        return [str(value)] if value else []
    if base == ".tool-versions":
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) >= 2 and words[0] == "python":
                return [words[1]]
        return []
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def _parse_request(text: str, allow_prereleases: bool, freethreaded: bool) -> PythonRequest:
    lowered = text.strip().lower()
    try:
        pypy = re.fullmatch(r"pypy-?(\d[\w.]*?)(?:-v?(\S+))?", lowered)
        if pypy:
            if pypy[2] in ("nightly",):
                raise ActionFailed(f"{text!r}: nightly PyPy cannot be set up locally")
            pypy_spec = parse_spec(pypy[2]) if pypy[2] else None
            return PythonRequest(text, parse_spec(pypy[1]), True, pypy_spec)
        dev = re.fullmatch(r"(\d+\.\d+)-dev", lowered)
        if dev:
            return PythonRequest(
                text, parse_spec(dev[1]), freethreaded=freethreaded, prereleases=True
            )
        threaded = re.fullmatch(r"(\d+\.\d+(?:\.\d+)?)t", lowered)
        if threaded:
            return PythonRequest(text, parse_spec(threaded[1]), freethreaded=True)
        # As setup-python: allow-prereleases widens only an "x.y" request.
        widen = allow_prereleases and re.fullmatch(r"\d+\.\d+", lowered) is not None
        return PythonRequest(
            text, parse_spec(lowered), freethreaded=freethreaded, prereleases=widen
        )
    except SpecError as error:
        raise ActionFailed(f"python-version {text!r} cannot be read: {error}") from None


def _choose(request: PythonRequest, interpreters: list[Interpreter]) -> Interpreter | None:
    fitting = [
        interpreter
        for interpreter in interpreters
        if interpreter.is_pypy == request.pypy
        and interpreter.freethreaded == request.freethreaded
        and (
            request.pypy_spec is None
            or (interpreter.pypy_version and _pypy_matches(request.pypy_spec, interpreter))
        )
    ]
    best = request.spec.best([i.version for i in fitting], request.prereleases)
    if best is None:
        return None
    # Same version from several places: the first source wins (tool cache, pyenv, ...).
    return next(interpreter for interpreter in fitting if interpreter.version == best)


def _pypy_matches(spec: VersionSpec, interpreter: Interpreter) -> bool:
    from conveyor.actions.version_specs import Version

    return spec.matches(Version.parse(interpreter.pypy_version))


def _not_found(request: PythonRequest, visible: list[Interpreter], found: list[Interpreter]) -> str:
    available = sorted(visible, key=lambda i: i.version, reverse=True)
    names = "; ".join(i.describe() for i in available) or "none"
    message = f"no Python matching {request.text!r} on this machine. Available: {names}"
    hidden = sorted((i for i in found if i not in visible), key=lambda i: i.version, reverse=True)
    if hidden:
        message += ". Not visible inside the job's sandbox, so not used: " + "; ".join(
            i.describe() for i in hidden
        )
    return message + ". Install it (pyenv install, uv python install) or ask for one of these"


def _install_with_uv(
    host: ActionHost,
    index: int,
    request: PythonRequest,
    environ: dict[str, str],
    tool_cache: str,
) -> Interpreter | None:
    """``uv python install`` into the tool cache, when uv is here and the job would see it."""
    uv = find_uv(environ)
    install_dir = os.path.join(tool_cache, "python")
    if uv is None or not host.can_use_tool(uv) or not host.can_use_tool(tool_cache):
        return None
    target = _uv_request(request)
    host.log_line(index, f"No local Python matches {request.text!r}: {uv} python install {target}")
    os.makedirs(install_dir, exist_ok=True)
    try:
        completed = subprocess.run(
            [uv, "python", "install", "--install-dir", install_dir, "--", target],
            capture_output=True,
            text=True,
            timeout=900,
            env={**environ, "UV_PYTHON_INSTALL_DIR": install_dir, "NO_COLOR": "1"},
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as error:
        host.log_line(index, f"uv python install failed: {error}")
        return None
    for line in (completed.stdout + completed.stderr).splitlines():
        host.log_line(index, line)
    if completed.returncode != 0:
        return None
    found = find_interpreters({"PATH": "", "HOME": "/nonexistent"}, tool_cache, host.can_use_tool)
    return _choose(request, found)


def _uv_request(request: PythonRequest) -> str:
    text = request.spec.text.strip()
    if request.pypy:
        return f"pypy@{text}"
    if request.freethreaded:
        return f"{text}t"
    # uv reads PEP 440; node-semver's spaces between bounds become commas.
    return re.sub(r"(?<=\d)\s+(?=[<>=!~])", ",", text).replace(" ", "")


def _prepare(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    env: dict[str, str],
    interpreter: Interpreter,
    update_environment: bool,
    tool_cache: str,
) -> StepOutcome:
    """In the job: run the interpreter, make its names, export what GitHub exports.

    The names (``python``, ``pip``, ...) are kept in the tool cache where the job can
    use it, so a virtual environment made from them (uv venv) outlives the job.
    """
    env = {**env, "SETUP_PYTHON_PROBE": _PROBE}
    if not update_environment:
        return run_shell(host, step, scope, env, _PREPARE, [interpreter.executable, "", "", ""])
    location = interpreter.location
    label = f"{'pypy' if interpreter.is_pypy else ''}{interpreter.version}"
    label += "t" if interpreter.freethreaded else ""
    links = os.path.join(tool_cache, "python-names")
    if not host.can_use_tool(tool_cache):
        links = os.path.join(host.runner_temp, "setup-python")
    digest = hashlib.sha256(os.path.realpath(interpreter.executable).encode()).hexdigest()[:12]
    names_directory = os.path.join(links, f"{label}-{digest}", "bin")
    venv = os.path.join(host.runner_temp, "setup-python-venv", label)
    minor = interpreter.version.minor
    names = ["python", "python3", f"python{minor}", "pip", "pip3", f"pip{minor}"]
    if interpreter.is_pypy:
        names += ["pypy", "pypy3"]
    major = interpreter.version.release[0]
    library = os.path.join(location, "lib")
    current = env.get("LD_LIBRARY_PATH", host.options.base_env.get("LD_LIBRARY_PATH", ""))
    libraries = current.split(":") if current else []
    set_env = {
        "PKG_CONFIG_PATH": os.path.join(location, "lib", "pkgconfig"),
        "Python_ROOT_DIR": location,
        f"Python{major}_ROOT_DIR": location,
        "LD_LIBRARY_PATH": ":".join([library, *libraries]) if library not in libraries else current,
    }
    arguments = [interpreter.executable, location, names_directory, venv, *names]
    return run_shell(host, step, scope, env, _PREPARE, arguments, set_env=set_env)


def _version_output(interpreter: Interpreter) -> str:
    if interpreter.is_pypy:
        return f"pypy{interpreter.version}-v{interpreter.pypy_version}".rstrip("-v")
    return str(interpreter.version) + ("t" if interpreter.freethreaded else "")


def check_architecture(architecture: str) -> None:
    if not architecture:
        return
    machine = platform.machine().lower()
    here = ARCHITECTURES.get(machine, machine)
    if architecture.lower() != here:
        raise ActionFailed(
            f"architecture {architecture!r} is not available: this machine is {machine} "
            f"({here}); its interpreters run only as {here}"
        )


# Where each manager keeps its cache, asked inside the job as the action asks (pip
# itself answers for pip: PIP_CACHE_DIR, XDG_CACHE_HOME and its config all count).
_CACHE_DIRECTORY = {
    "pip": '"$1" -m pip cache dir',
    "pipenv": 'printf "%s\\n" "$HOME/.local/share/virtualenvs"',
    "poetry": 'printf "%s\\n" "${XDG_CACHE_HOME:-$HOME/.cache}/pypoetry"',
    "uv": 'printf "%s\\n" "${UV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/uv}"',
}
_ASK_CACHE_DIRECTORY = """
directory=$({ask})
printf 'home=%s\\ndirectory=%s\\n' "$HOME" "$directory" >> "$GITHUB_OUTPUT"
"""


def _restore_cache(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    inputs: ActionInputs,
    env: dict[str, str],
    manager: str,
    interpreter: Interpreter,
    python: str,
) -> bool:
    globs = inputs.lines("cache-dependency-path") or CACHE_MANAGERS[manager]
    script = _ASK_CACHE_DIRECTORY.format(ask=_CACHE_DIRECTORY[manager])
    asked = run_shell(host, step, scope, env, script, [python])
    directory = asked.outputs.get("directory", "").strip()
    if asked.outcome != Status.SUCCESS or not directory:
        raise ActionFailed(f"could not learn where {manager} keeps its cache in this job")
    home = asked.outputs.get("home", "").rstrip("/")
    if home and directory.startswith(home + "/"):
        # In the job's HOME, whatever its name in this run (a sandbox's differs each time).
        directory = "~" + directory[len(home) :]
    machine = platform.machine().lower()
    return restore_dependencies(
        host,
        step,
        scope,
        manager=manager,
        paths=[directory],
        key_parts=[
            "setup-python",
            "Linux",
            ARCHITECTURES.get(machine, machine),
            f"python-{_version_output(interpreter)}",
            manager,
        ],
        dependency_globs=globs,
    )
