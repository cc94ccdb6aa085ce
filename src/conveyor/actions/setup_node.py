"""``actions/setup-node``: this machine's Node.js, matched to the version asked for.

Node is not downloaded: the versions there are (nvm's ``$NVM_DIR/versions/node``,
``node`` on PATH, ``/usr/local/bin``, ``/usr/bin``) are matched against
``node-version`` or ``node-version-file``, and a request none meets fails naming
them. ``registry-url`` writes the ``.npmrc`` GitHub's action writes (in
``runner.temp``), so ``npm publish`` reads ``NODE_AUTH_TOKEN`` the same way.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from conveyor.actions.action_inputs import ActionInputs
from conveyor.actions.action_steps import ActionFailed, at_uses, fail, job_env, log_index
from conveyor.actions.dependency_cache import restore_dependencies
from conveyor.actions.in_job_shell import run_shell
from conveyor.actions.machine_tools import ask_once, list_directory, output_of
from conveyor.actions.setup_python import check_architecture
from conveyor.actions.version_specs import SpecError, Version, parse_spec
from conveyor.actions.workspace_files import read_workspace_file
from conveyor.engine.events import Status
from conveyor.engine.step_types import ActionHost, StepOutcome, StepScope
from conveyor.workflow.model import Step

INPUTS = {
    "always-auth": "false",
    "node-version": "",
    "node-version-file": "",
    "architecture": "",
    "check-latest": "false",
    "registry-url": "",
    "scope": "",
    "token": "",
    "cache": "",
    "package-manager-cache": "true",
    "cache-dependency-path": "",
    "mirror": "",
    "mirror-token": "",
}
# Lock files at the root, as GitHub's action looks for them by default.
CACHE_MANAGERS = {
    "npm": ["package-lock.json", "npm-shrinkwrap.json", "yarn.lock"],
    "yarn": ["yarn.lock"],
    "pnpm": ["pnpm-lock.yaml"],
}
LTS_NAMES = {
    "argon": 4,
    "boron": 6,
    "carbon": 8,
    "dubnium": 10,
    "erbium": 12,
    "fermium": 14,
    "gallium": 16,
    "hydrogen": 18,
    "iron": 20,
    "jod": 22,
    "krypton": 24,
}
_SYSTEM_DIRECTORIES = ("/usr/local/bin", "/usr/bin")
# The file GitHub's action writes; values come as arguments, so nothing is spliced in.
_PREPARE = """
node=$1 npmrc=$2; shift 2
"$node" -e 'console.log("Using Node.js " + process.version + " at " + process.execPath)'
if [ -n "$npmrc" ]; then printf '%s\\n' "$@" > "$npmrc"; fi
"""


@dataclass(frozen=True)
class NodeInstallation:
    executable: str
    version: Version
    source: str

    def describe(self) -> str:
        return f"v{self.version} ({self.source}: {self.executable})"


def run_setup_node(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
) -> StepOutcome:
    try:
        inputs = ActionInputs(host, step, scope, contexts, INPUTS)
        return _setup(host, step, scope, inputs, step_env, contexts)
    except ActionFailed as problem:
        return fail(host, step, scope, at_uses(step, str(problem)))


def _setup(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    inputs: ActionInputs,
    step_env: dict[str, str],
    contexts: dict[str, Any],
) -> StepOutcome:
    index = log_index(step, scope)
    env = job_env(host, scope, step_env)
    environ = {**host.options.base_env, **env}
    check_architecture(inputs.text("architecture"))
    manager = inputs.text("cache")
    if manager and manager not in CACHE_MANAGERS:
        raise ActionFailed(
            f"cache: {manager!r} is not supported; use one of {', '.join(CACHE_MANAGERS)}"
        )
    request = _requested_version(host, inputs, index)
    if inputs.toolkit_boolean("check-latest"):
        host.log_line(
            index,
            "check-latest: Conveyor uses the newest matching Node.js on this machine "
            "and downloads none",
        )
    installations = [
        i for i in find_node(environ, host.can_use_tool) if host.can_use_tool(i.executable)
    ]
    chosen: NodeInstallation | None = None
    if request:
        chosen = _choose(request, installations)
        if chosen is None:
            names = "; ".join(i.describe() for i in installations) or "none"
            raise ActionFailed(
                f"no Node.js matching {request!r} on this machine (Conveyor downloads none). "
                f"Available: {names}"
            )
    elif installations:
        chosen = installations[0]
    if chosen is None:
        raise ActionFailed("no Node.js on this machine (looked on PATH, nvm, /usr/bin)")

    npmrc, npmrc_lines, registry_env = _registry(host, inputs, contexts, environ)
    set_env = dict(registry_env)
    add_path = [os.path.dirname(chosen.executable)] if request else []
    prepared = run_shell(
        host,
        step,
        scope,
        env,
        _PREPARE,
        [chosen.executable, npmrc, *npmrc_lines],
        set_env=set_env,
        add_path=add_path,
    )
    if prepared.outcome != Status.SUCCESS:
        return prepared
    outcome = StepOutcome(Status.SUCCESS, outputs={"node-version": f"v{chosen.version}"})
    if manager:
        home = env.get("HOME") or "~"
        paths = {
            "npm": env.get("npm_config_cache") or os.path.join(home, ".npm"),
            "yarn": os.path.join(home, ".cache", "yarn"),
            "pnpm": os.path.join(home, ".local", "share", "pnpm", "store"),
        }
        hit = restore_dependencies(
            host,
            step,
            scope,
            manager=manager,
            paths=[paths[manager]],
            key_parts=["node-cache", "Linux", manager],
            dependency_globs=inputs.lines("cache-dependency-path") or CACHE_MANAGERS[manager],
        )
        outcome.outputs["cache-hit"] = str(hit).lower()
    return outcome


def _requested_version(host: ActionHost, inputs: ActionInputs, index: int) -> str:
    if inputs.given("node-version"):
        if inputs.given("node-version-file"):
            host.warn(
                index, "both node-version and node-version-file are given: node-version is used"
            )
        return inputs.text("node-version")
    file_name = inputs.text("node-version-file")
    if not file_name:
        return ""
    text = read_workspace_file(host, file_name, "node-version-file")
    if text is None:
        raise ActionFailed(f"the node-version-file {file_name!r} does not exist")
    version = version_from_file(file_name, text)
    if not version:
        raise ActionFailed(f"no Node.js version found in {file_name!r}")
    return version


def version_from_file(file_name: str, text: str) -> str:
    """The version a ``.nvmrc``, ``.node-version``, ``.tool-versions`` or ``package.json`` names."""
    if os.path.basename(file_name) == "package.json":
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ActionFailed(f"{file_name}: not valid JSON: {error}") from None
        volta = (data.get("volta") or {}).get("node")
        runtime = (data.get("devEngines") or {}).get("runtime") or {}
        if isinstance(runtime, list):
            runtime = next((r for r in runtime if r.get("name") == "node"), {})
        engines = (data.get("engines") or {}).get("node")
        found = volta or (runtime.get("version") if runtime.get("name") == "node" else None)
        return str(found or engines or "")
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if os.path.basename(file_name) == ".tool-versions":
            if len(words) >= 2 and words[0] in ("nodejs", "node"):
                return words[1]
            continue
        return words[0]
    return ""


def _choose(request: str, installations: list[NodeInstallation]) -> NodeInstallation | None:
    versions = [i.version for i in installations]
    lowered = request.strip().lower()
    if lowered in ("node", "latest", "current"):
        best = max(versions, default=None)
    elif lowered.startswith("lts/"):
        name = lowered[4:]
        if name == "*":
            lts = [v for v in versions if v.release[0] % 2 == 0 and v.release[0] >= 4]
        elif name in LTS_NAMES:
            lts = [v for v in versions if v.release[0] == LTS_NAMES[name]]
        else:
            raise ActionFailed(f"node-version {request!r}: unknown LTS line {name!r}")
        best = max(lts, default=None)
    else:
        try:
            best = parse_spec(re.sub(r"^v(?=\d)", "", lowered)).best(versions)
        except SpecError as error:
            raise ActionFailed(f"node-version {request!r} cannot be read: {error}") from None
    if best is None:
        return None
    return next(i for i in installations if i.version == best)


def find_node(environ: dict[str, str], may_run: Callable[[str], bool]) -> list[NodeInstallation]:
    """This machine's Node.js installations: nvm's, then PATH's, then the system's.

    Only a node ``may_run`` allows is asked its version (never one a sandboxed job
    could have written: the PATH comes from the job)."""
    home = environ.get("HOME") or os.path.expanduser("~")
    found: list[NodeInstallation] = []
    nvm = os.path.join(environ.get("NVM_DIR") or os.path.join(home, ".nvm"), "versions", "node")
    for name in reversed(list_directory(nvm)):
        executable = os.path.join(nvm, name, "bin", "node")
        if os.path.isfile(executable):
            try:
                found.append(NodeInstallation(executable, Version.parse(name), "nvm"))
            except SpecError:
                continue
    path = [entry for entry in environ.get("PATH", "").split(os.pathsep) if entry]
    for directory in [*path, *_SYSTEM_DIRECTORIES]:
        executable = os.path.join(directory, "node")
        if os.path.isfile(executable) and os.access(executable, os.X_OK) and may_run(executable):
            version = _probe(executable)
            if version is not None:
                source = "PATH" if directory in path else "system"
                found.append(NodeInstallation(os.path.realpath(executable), version, source))
    unique: dict[tuple[str, Version], NodeInstallation] = {}
    for installation in found:
        unique.setdefault((installation.executable, installation.version), installation)
    return list(unique.values())


def _probe(executable: str) -> Version | None:
    def ask(real: str) -> Version | None:
        try:
            return Version.parse((output_of([real, "--version"]) or "").strip())
        except SpecError:
            return None

    return ask_once("node", executable, ask)


def _registry(
    host: ActionHost, inputs: ActionInputs, contexts: dict[str, Any], environ: dict[str, str]
) -> tuple[str, list[str], dict[str, str]]:
    """The .npmrc GitHub's action writes for ``registry-url``: its path, lines and env."""
    url = inputs.text("registry-url")
    if not url:
        return "", [], {}
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ActionFailed(f"registry-url must be an http(s) URL, got {url!r}")
    if not url.endswith("/"):
        url += "/"
    scope = inputs.text("scope")
    if not scope and parts.netloc == "npm.pkg.github.com":
        scope = str(contexts.get("github", {}).get("repository_owner", ""))
    if scope and not scope.startswith("@"):
        scope = "@" + scope
    scope = scope.lower()
    lines = [f"{scope}:registry={url}" if scope else f"registry={url}"]
    lines.insert(0, f"//{url.split('://', 1)[1]}:_authToken=${{NODE_AUTH_TOKEN}}")
    if inputs.toolkit_boolean("always-auth"):
        lines.append("always-auth=true")
    npmrc = os.path.join(host.runner_temp, ".npmrc")
    # As GitHub's action: a placeholder token unless the workflow sets its own.
    token = environ.get("NODE_AUTH_TOKEN") or "XXXXX-XXXXX-XXXXX-XXXXX"
    return npmrc, lines, {"NPM_CONFIG_USERCONFIG": npmrc, "NODE_AUTH_TOKEN": token}
