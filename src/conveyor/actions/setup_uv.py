"""``astral-sh/setup-uv``: this machine's uv, or the version asked for installed from PyPI.

uv is looked for where it is installed for a user (PATH, ``~/.local/bin``,
``~/.cargo/bin``; a virtual environment on PATH is a project's, not the
machine's) and in Conveyor's tool cache (``<store>/tools/uv/<version>``). When
none matches ``version`` (or ``version-file``, or the ``required-version`` of
``uv.toml``/``pyproject.toml``), ``pip install uv==X`` fills the tool cache; a
sandboxed job, which cannot see the tool cache, uses only what it can see.

``enable-cache: auto`` means what it means on a self-hosted runner: off (uv's own
cache on this machine outlives the run anyway).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conveyor.actions.action_inputs import ActionInputs
from conveyor.actions.action_steps import ActionFailed, at_uses, fail, job_env, log_index
from conveyor.actions.dependency_cache import restore_dependencies
from conveyor.actions.in_job_shell import run_shell
from conveyor.actions.machine_tools import ask_once, find_uv, list_directory, output_of
from conveyor.actions.setup_python import ARCHITECTURES
from conveyor.actions.version_specs import SpecError, Version, parse_spec
from conveyor.actions.workspace_files import inside_workspace, read_workspace_file
from conveyor.engine.events import Status
from conveyor.engine.options import default_store_dir
from conveyor.engine.step_types import ActionHost, StepOutcome, StepScope
from conveyor.workflow.model import Step

DEFAULT_GLOBS = "\n".join(
    [
        "**/*requirements*.txt",
        "**/*requirements*.in",
        "**/*constraints*.txt",
        "**/*constraints*.in",
        "**/pyproject.toml",
        "**/uv.lock",
        "**/*.py.lock",
    ]
)
INPUTS = {
    "version": "",
    "version-file": "",
    "python-version": "",
    "activate-environment": "false",
    "venv-path": "",
    "working-directory": "",
    "checksum": "",
    "github-token": "",
    "enable-cache": "auto",
    "cache-dependency-glob": DEFAULT_GLOBS,
    "restore-cache": "true",
    "save-cache": "true",
    "cache-suffix": "",
    "cache-local-path": "",
    "prune-cache": "true",
    "cache-python": "false",
    "ignore-nothing-to-cache": "false",
    "ignore-empty-workdir": "false",
    "tool-dir": "",
    "tool-bin-dir": "",
    "manifest-file": "",
    "add-problem-matchers": "true",
    "resolution-strategy": "highest",
}
# Proves uv runs in the job and makes the venv there; exports follow (in_job_shell).
_PREPARE = """
uv=$1 venv=$2
"$uv" --version
if [ -n "$venv" ]; then "$uv" venv "$venv"; fi
"""
_REQUIREMENT = re.compile(r"^[0-9A-Za-z.*<>=!~, ]+$")


@dataclass(frozen=True)
class UvInstallation:
    executable: str
    version: Version
    source: str

    def describe(self) -> str:
        return f"{self.version} ({self.source}: {self.executable})"


def run_setup_uv(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
) -> StepOutcome:
    try:
        inputs = ActionInputs(host, step, scope, contexts, INPUTS)
        return _setup(host, step, scope, inputs, step_env)
    except ActionFailed as problem:
        return fail(host, step, scope, at_uses(step, str(problem)))


def _setup(
    host: ActionHost, step: Step, scope: StepScope, inputs: ActionInputs, step_env: dict[str, str]
) -> StepOutcome:
    index = log_index(step, scope)
    env = job_env(host, scope, step_env)
    environ = {**host.options.base_env, **env}
    relative = inputs.text("working-directory") or "."
    working_directory = _workspace_directory(host, relative, "working-directory")
    if not inputs.toolkit_boolean("ignore-empty-workdir") and not list_directory(working_directory):
        host.warn(
            index,
            f"the working directory {relative} is empty: did actions/checkout run first? "
            "(ignore-empty-workdir: true silences this)",
        )
    request = _requested_version(host, inputs, relative)
    if inputs.text("checksum"):
        host.log_line(
            index,
            "checksum: it applies to GitHub's release archives; uv from PyPI is checked "
            "by pip against the index's hashes",
        )
    # Every input is checked before anything is installed or changed in the job.
    lowest = inputs.text("resolution-strategy") == "lowest"
    if inputs.text("resolution-strategy") not in ("highest", "lowest"):
        raise ActionFailed("resolution-strategy must be highest or lowest")
    enable_cache = inputs.text("enable-cache")
    if enable_cache not in ("true", "false", "auto"):
        raise ActionFailed(f"enable-cache must be true, false or auto, got {enable_cache!r}")
    activate = inputs.toolkit_boolean("activate-environment")
    tool_cache = os.path.join(host.options.store_dir or default_store_dir(environ), "tools")
    installations = [
        i
        for i in find_uv_installations(environ, tool_cache, host.can_use_tool)
        if host.can_use_tool(i.executable)
    ]
    chosen = _choose(request, installations, lowest)
    if chosen is None:
        chosen = _install_from_pypi(host, index, request, tool_cache)
    if chosen is None:
        names = "; ".join(i.describe() for i in installations) or "none"
        raise ActionFailed(
            f"no uv matching {request!r} on this machine, and it could not be installed "
            f"from PyPI here. Available: {names}"
        )

    set_env: dict[str, str] = {}
    add_path = [os.path.dirname(chosen.executable)]
    outputs = {
        "uv-version": str(chosen.version),
        "uv-path": chosen.executable,
        "uvx-path": os.path.join(os.path.dirname(chosen.executable), "uvx"),
    }
    python_version = inputs.text("python-version")
    if python_version:
        set_env["UV_PYTHON"] = python_version
        outputs["python-version"] = python_version
    home = environ.get("HOME") or os.path.expanduser("~")
    for name, variable in (("tool-dir", "UV_TOOL_DIR"), ("tool-bin-dir", "UV_TOOL_BIN_DIR")):
        if inputs.text(name):
            set_env[variable] = _expand_home(inputs.text(name), home)
    if "UV_TOOL_BIN_DIR" in set_env:
        add_path.append(set_env["UV_TOOL_BIN_DIR"])
    cache_dir = inputs.text("cache-local-path")
    if enable_cache == "true" and not cache_dir:
        cache_dir = os.path.join(host.runner_temp, "setup-uv-cache")
    if cache_dir:
        set_env["UV_CACHE_DIR"] = _expand_home(cache_dir, home)
    venv = ""
    if activate:
        venv = os.path.join(working_directory, inputs.text("venv-path") or ".venv")
        venv = os.path.normpath(venv)
        set_env["VIRTUAL_ENV"] = venv
        add_path.append(os.path.join(venv, "bin"))
        outputs["venv"] = venv
    prepared = run_shell(
        host,
        step,
        scope,
        {**env, **{k: v for k, v in set_env.items() if k.startswith("UV_")}},
        _PREPARE,
        [chosen.executable, venv],
        set_env=set_env,
        add_path=add_path,
        cwd=working_directory,
    )
    if prepared.outcome != Status.SUCCESS:
        return prepared
    if enable_cache == "true":
        machine = platform.machine().lower()
        key_parts = ["setup-uv", "Linux", ARCHITECTURES.get(machine, machine)]
        key_parts += [part for part in (python_version, inputs.text("cache-suffix")) if part]
        globs = [
            os.path.join(relative, glob) if not glob.startswith(("/", "~")) else glob
            for glob in inputs.lines("cache-dependency-glob")
        ]
        hit = restore_dependencies(
            host,
            step,
            scope,
            manager="uv",
            paths=[set_env["UV_CACHE_DIR"]],
            key_parts=key_parts,
            dependency_globs=[glob.removeprefix("./") for glob in globs],
            warn_when_unmatched=True,
        )
        outputs["cache-hit"] = str(hit).lower()
    return StepOutcome(Status.SUCCESS, outputs=outputs)


def _workspace_directory(host: ActionHost, relative: str, what: str) -> str:
    path, real = inside_workspace(host, relative, what)
    if not os.path.isdir(real):
        raise ActionFailed(f"{what} {relative!r} is not a directory")
    return path


def _requested_version(host: ActionHost, inputs: ActionInputs, working_directory: str) -> str:
    """``version``; else the version file's; else uv.toml's or pyproject.toml's; else latest."""
    if inputs.given("version"):
        return inputs.text("version")
    file_name = inputs.text("version-file")
    if file_name:
        text = read_workspace_file(host, file_name, "version-file")
        if text is None:
            raise ActionFailed(f"the version-file {file_name!r} does not exist")
        found = version_from_file(file_name, text)
        if not found:
            raise ActionFailed(f"no uv version found in {file_name!r}")
        return found
    for name in ("uv.toml", "pyproject.toml"):
        relative = os.path.join(working_directory, name)
        text = read_workspace_file(host, relative, name)
        if text is not None:
            found = version_from_file(name, text)
            if found:
                return found
    return "latest"


def version_from_file(file_name: str, text: str) -> str:
    """uv's version in ``uv.toml``, ``pyproject.toml``, ``.tool-versions`` or requirements."""
    base = os.path.basename(file_name)
    if base.endswith(".toml"):
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ActionFailed(f"{file_name}: not valid TOML: {error}") from None
        table = data if base == "uv.toml" else data.get("tool", {}).get("uv", {})
        return str(table.get("required-version") or "").strip()
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if base == ".tool-versions":
            if len(words) >= 2 and words[0] == "uv":
                return words[1]
            continue
        match = re.match(r"^uv\s*(==|>=|<=|~=|>|<)\s*(\S+)", " ".join(words))
        if match:
            return match[2] if match[1] == "==" else match[1] + match[2]
    return ""


def _choose(
    request: str, installations: list[UvInstallation], lowest: bool
) -> UvInstallation | None:
    versions = [i.version for i in installations]
    if request == "latest":
        best = max(versions, default=None)
    else:
        try:
            spec = parse_spec(request)
        except SpecError as error:
            raise ActionFailed(f"version {request!r} cannot be read: {error}") from None
        fitting = [v for v in versions if spec.matches(v)]
        best = (min if lowest else max)(fitting, default=None)
    return next((i for i in installations if i.version == best), None)


def find_uv_installations(
    environ: dict[str, str], tool_cache: str, may_run: Callable[[str], bool]
) -> list[UvInstallation]:
    """uv in Conveyor's tool cache (named by version), then the machine's, asked its
    version only if ``may_run`` allows (the PATH comes from the job)."""
    found = []
    root = os.path.join(tool_cache, "uv")
    for name in list_directory(root):
        executable = os.path.join(root, name, "bin", "uv")
        if os.path.isfile(executable):
            try:
                found.append(
                    UvInstallation(executable, Version.parse(name), "Conveyor's tool cache")
                )
            except SpecError:
                continue
    machine = find_uv(environ)
    if machine is not None and may_run(machine):
        version = _probe(machine)
        if version is not None:
            found.append(UvInstallation(machine, version, "this machine"))
    return found


def _probe(executable: str) -> Version | None:
    def ask(real: str) -> Version | None:
        words = (output_of([real, "--version"]) or "").split()
        try:
            return Version.parse(words[1]) if len(words) >= 2 else None
        except SpecError:
            return None

    return ask_once("uv", executable, ask)


def pip_requirement(request: str) -> str:
    """What to ask PyPI for: ``uv==0.5.1``, ``uv==0.4.*``, ``uv>=0.4,<0.5``."""
    text = request.strip()
    if text == "latest":
        return "uv"
    if re.fullmatch(r"\d+(\.\d+){2}", text):
        return f"uv=={text}"
    family = re.fullmatch(r"(\d+(?:\.\d+)?)(?:\.[xX*])?", text)
    if family:
        return f"uv=={family[1]}.*"
    pep440 = re.sub(r"(?<=\d)\s+(?=[<>=!~])", ",", text).replace(" ", "")
    if not _REQUIREMENT.match(pep440) or pep440[0] not in "<>=!~":
        raise ActionFailed(f"version {request!r}: cannot ask PyPI for it; give an exact version")
    return f"uv{pep440}"


def _install_from_pypi(
    host: ActionHost, index: int, request: str, tool_cache: str
) -> UvInstallation | None:
    """``pip install`` the uv asked for into ``<tool cache>/uv/<version>``, atomically."""
    root = os.path.join(tool_cache, "uv")
    if not host.can_use_tool(tool_cache):
        return None
    requirement = pip_requirement(request)
    host.log_line(index, f"uv {request} is not on this machine: installing {requirement} from PyPI")
    os.makedirs(root, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".install-", dir=root)
    try:
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-warn-script-location",
                "--target",
                staging,
                requirement,
            ],
            capture_output=True,
            text=True,
            timeout=900,
            stdin=subprocess.DEVNULL,
        )
        for line in (completed.stdout + completed.stderr).splitlines():
            if not line.startswith("WARNING: Location"):
                host.log_line(index, line)
        executable = os.path.join(staging, "bin", "uv")
        version = _probe(executable) if completed.returncode == 0 else None
        if version is None:
            return None
        final = os.path.join(root, str(version))
        if not os.path.exists(final):
            os.rename(staging, final)  # whole or not at all: never a half-installed version
        return UvInstallation(os.path.join(final, "bin", "uv"), version, "Conveyor's tool cache")
    except (OSError, subprocess.SubprocessError) as error:
        host.log_line(index, f"installing uv failed: {error}")
        return None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _expand_home(path: str, home: str) -> str:
    return home + path[1:] if path == "~" or path.startswith("~/") else path
