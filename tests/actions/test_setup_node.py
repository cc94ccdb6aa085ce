"""actions/setup-node with this machine's real node: each documented input matters."""

from __future__ import annotations

import platform
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from conveyor.engine.events import Status
from conveyor.executors.local import LocalExecutor
from tests.engine.helpers import Outcome, run_yaml

NODE = shutil.which("node", path="/usr/local/bin:/usr/bin")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs node in /usr/bin or /usr/local/bin")
VERSION = (
    subprocess.run([NODE, "--version"], capture_output=True, text=True).stdout.strip()
    if NODE
    else "v0.0.0"
)
MAJOR = VERSION.lstrip("v").split(".")[0]


def nvm_with(tmp_path: Path, versions: list[str]) -> Path:
    """An nvm directory whose versions are the real node, under the names given."""
    root = tmp_path / "nvm"
    for version in versions:
        bin_directory = root / "versions" / "node" / version / "bin"
        bin_directory.mkdir(parents=True)
        (bin_directory / "node").symlink_to(NODE)
    return root


def run_steps(
    tmp_path: Path,
    steps: str,
    files: dict[str, str] | None = None,
    nvm: list[str] | None = None,
) -> Outcome:
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    for name, text in (files or {}).items():
        (workspace / name).write_text(text)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "NVM_DIR": str(nvm_with(tmp_path, nvm or [])),
    }
    workflow = "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n" + textwrap.indent(
        textwrap.dedent(steps), "      "
    )
    return run_yaml(
        workflow,
        str(workspace),
        executor=LocalExecutor(),
        base_env=env,
        store_dir=str(tmp_path / "store"),
    )


def log(outcome: Outcome, step: int) -> str:
    return "\n".join(outcome.events.log("t", step))


def outputs(outcome: Outcome, step: int) -> dict[str, str]:
    return outcome.result.jobs["t"].steps[step].outputs


def assert_ok(outcome: Outcome) -> None:
    assert outcome.result.status == Status.SUCCESS, outcome.events.log("t")


@pytest.mark.parametrize("spec", [MAJOR, f"{MAJOR}.x", f">={MAJOR}", VERSION, "lts/*", "node"])
def test_node_version_matches_the_machine_node(tmp_path, spec):
    outcome = run_steps(
        tmp_path,
        f"""
        - id: node
          uses: actions/setup-node@v4
          with: {{node-version: "{spec}"}}
        - run: node --version && echo "${{{{ steps.node.outputs.node-version }}}}"
        """,
    )
    assert_ok(outcome)
    assert log(outcome, 1).splitlines() == [VERSION, VERSION]


def test_node_version_picks_among_installations(tmp_path):
    # Two nvm installations (the real node under two names) and the system's.
    outcome = run_steps(
        tmp_path,
        """
        - id: newest
          uses: actions/setup-node@v4
          with: {node-version: "99"}
        - id: range
          uses: actions/setup-node@v4
          with: {node-version: ">=97 <99"}
        - run: command -v node
        """,
        nvm=["v98.1.0", "v99.2.0"],
    )
    assert_ok(outcome)
    assert outputs(outcome, 0)["node-version"] == "v99.2.0"
    assert outputs(outcome, 1)["node-version"] == "v98.1.0"
    assert log(outcome, 2) == str(tmp_path / "nvm/versions/node/v98.1.0/bin/node")


def test_no_match_names_what_is_available(tmp_path):
    outcome = run_steps(
        tmp_path,
        """
        - uses: actions/setup-node@v4
          with: {node-version: "7"}
        """,
    )
    assert outcome.result.status == Status.FAILURE
    text = log(outcome, 0)
    assert "ci.yml:7:15" in text and "no Node.js matching '7'" in text and VERSION in text


@pytest.mark.parametrize(
    ("file_name", "text"),
    [
        (".nvmrc", "{version}\n"),
        (".node-version", "{major}\n"),
        (".tool-versions", "python 3.12.1\nnodejs {major}\n"),
        ("package.json", '{{"engines": {{"node": ">={major}"}}}}'),
        ("volta.json", ""),
    ],
)
def test_node_version_file(tmp_path, file_name, text):
    if file_name == "volta.json":
        file_name, text = (
            "package.json",
            '{{"volta": {{"node": "{version}"}}, "engines": {{"node": "1"}}}}',
        )
    outcome = run_steps(
        tmp_path,
        f"""
        - id: node
          uses: actions/setup-node@v4
          with: {{node-version-file: "{file_name}"}}
        """,
        files={file_name: text.format(version=VERSION, major=MAJOR)},
        nvm=["v1.0.0"],
    )
    assert_ok(outcome)
    assert outputs(outcome, 0)["node-version"] == VERSION


def test_architecture_of_another_machine_is_refused(tmp_path):
    other = "arm64" if platform.machine() == "x86_64" else "x64"
    outcome = run_steps(
        tmp_path,
        f"""
        - uses: actions/setup-node@v4
          with: {{node-version: "{MAJOR}", architecture: {other}}}
        """,
    )
    assert outcome.result.status == Status.FAILURE
    assert f"architecture '{other}' is not available" in log(outcome, 0)


def test_check_latest_is_said_to_be_local(tmp_path):
    outcome = run_steps(
        tmp_path,
        f"""
        - uses: actions/setup-node@v4
          with: {{node-version: "{MAJOR}", check-latest: true}}
        """,
    )
    assert_ok(outcome)
    assert "check-latest: Conveyor uses the newest matching Node.js" in log(outcome, 0)


def test_registry_url_scope_and_always_auth_write_the_npmrc(tmp_path):
    outcome = run_steps(
        tmp_path,
        f"""
        - uses: actions/setup-node@v4
          with:
            node-version: "{MAJOR}"
            registry-url: https://registry.example.com/npm
            scope: acme
            always-auth: true
        - run: |
            cat "$NPM_CONFIG_USERCONFIG"
            echo "token=$NODE_AUTH_TOKEN"
        """,
    )
    assert_ok(outcome)
    assert log(outcome, 1).splitlines() == [
        "//registry.example.com/npm/:_authToken=${NODE_AUTH_TOKEN}",
        "@acme:registry=https://registry.example.com/npm/",
        "always-auth=true",
        "token=XXXXX-XXXXX-XXXXX-XXXXX",
    ]


def test_an_unknown_cache_manager_is_refused(tmp_path):
    outcome = run_steps(
        tmp_path,
        f"""
        - uses: actions/setup-node@v4
          with: {{node-version: "{MAJOR}", cache: bun}}
        """,
    )
    assert outcome.result.status == Status.FAILURE
    assert "cache: 'bun' is not supported; use one of npm, yarn, pnpm" in log(outcome, 0)
