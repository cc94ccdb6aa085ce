"""astral-sh/setup-uv with a real uv (installed from PyPI for the tests): each input matters.

The machine has no uv of its own, so the session installs the newest uv from PyPI
into a directory that plays the machine's ``~/.local/bin``; without network the
tests are skipped. A second, older version comes from PyPI through the action itself.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conveyor.engine.events import Status
from conveyor.executors.local import LocalExecutor
from tests.actions.python_machine import INSTALLATIONS
from tests.engine.helpers import Outcome, run_yaml

OLD_UV = "0.8.0"


@pytest.fixture(scope="session")
def machine_uv(tmp_path_factory) -> tuple[Path, str]:
    """A home whose ~/.local/bin has the newest uv; and its version."""
    home = tmp_path_factory.mktemp("uv-home")
    target = tmp_path_factory.mktemp("uv-package")
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), "uv"],
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        pytest.skip(f"uv cannot be installed from PyPI here: {completed.stderr[-300:]}")
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "uv").symlink_to(target / "bin" / "uv")
    version = subprocess.run(
        [str(target / "bin" / "uv"), "--version"], capture_output=True, text=True
    ).stdout.split()[1]
    return home, version


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> Path:
    """One store for the session: the older uv is fetched from PyPI once."""
    return tmp_path_factory.mktemp("store")


def run_steps(
    tmp_path: Path,
    machine_uv: tuple[Path, str],
    store: Path,
    steps: str,
    files: dict[str, str] | None = None,
    path: str = "/usr/bin:/bin",
) -> Outcome:
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    for name, text in (files or {}).items():
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_text(text)
    env = {"PATH": path, "HOME": str(machine_uv[0]), "UV_NO_CACHE": "1", "UV_OFFLINE": "1"}
    workflow = "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n" + textwrap.indent(
        textwrap.dedent(steps), "      "
    )
    return run_yaml(
        workflow, str(workspace), executor=LocalExecutor(), base_env=env, store_dir=str(store)
    )


def log(outcome: Outcome, step: int) -> str:
    return "\n".join(outcome.events.log("t", step))


def outputs(outcome: Outcome, step: int) -> dict[str, str]:
    return outcome.result.jobs["t"].steps[step].outputs


def assert_ok(outcome: Outcome) -> None:
    assert outcome.result.status == Status.SUCCESS, outcome.events.log("t")


def test_the_machine_uv_is_set_up_with_its_outputs(tmp_path, machine_uv, store):
    home, version = machine_uv
    outcome = run_steps(
        tmp_path,
        machine_uv,
        store,
        """
        - id: uv
          uses: astral-sh/setup-uv@v6
        - run: uv --version && command -v uv
        """,
        files={"README": "x"},
    )
    assert_ok(outcome)
    first, second = log(outcome, 1).splitlines()
    assert first.startswith(f"uv {version} ")
    assert second == str(home / ".local" / "bin" / "uv")
    assert outputs(outcome, 0)["uv-version"] == version
    assert outputs(outcome, 0)["uv-path"] == str(home / ".local" / "bin" / "uv")
    assert outputs(outcome, 0)["uvx-path"] == str(home / ".local" / "bin" / "uvx")


def test_version_installs_from_pypi_into_the_tool_cache(tmp_path, machine_uv, store):
    outcome = run_steps(
        tmp_path,
        machine_uv,
        store,
        f"""
        - id: uv
          uses: astral-sh/setup-uv@v6
          with: {{version: "{OLD_UV}"}}
        - run: uv --version
        """,
        files={"README": "x"},
    )
    assert_ok(outcome)
    assert log(outcome, 1).startswith(f"uv {OLD_UV}")
    assert outputs(outcome, 0)["uv-path"] == str(store / "tools" / "uv" / OLD_UV / "bin" / "uv")


@pytest.mark.parametrize(
    ("file_name", "text", "given"),
    [
        ("uv.toml", f'required-version = "=={OLD_UV}"\n', True),
        ("pyproject.toml", f'[tool.uv]\nrequired-version = "=={OLD_UV}"\n', True),
        (".tool-versions", f"python 3.12.1\nuv {OLD_UV}\n", True),
        ("requirements-dev.txt", f"pytest\nuv=={OLD_UV}\n", True),
        ("uv.toml", f'required-version = "=={OLD_UV}"\n', False),
        ("pyproject.toml", f'[tool.uv]\nrequired-version = "=={OLD_UV}"\n', False),
    ],
)
def test_version_file_and_the_required_version_found_by_default(
    tmp_path, machine_uv, store, file_name, text, given
):
    with_version_file = f"with: {{version-file: {file_name}}}" if given else ""
    outcome = run_steps(
        tmp_path,
        machine_uv,
        store,
        f"""
        - id: uv
          uses: astral-sh/setup-uv@v6
          {with_version_file}
        """,
        files={file_name: text},
    )
    assert_ok(outcome)
    assert outputs(outcome, 0)["uv-version"] == OLD_UV


def test_working_directory_is_where_files_are_read_and_the_venv_made(tmp_path, machine_uv, store):
    if not INSTALLATIONS:
        pytest.skip("needs a pyenv interpreter for the venv")
    python_bin = INSTALLATIONS[-1].prefix / "bin"
    outcome = run_steps(
        tmp_path,
        machine_uv,
        store,
        """
        - id: uv
          uses: astral-sh/setup-uv@v6
          with:
            working-directory: sub/project
            activate-environment: true
        - run: echo "$VIRTUAL_ENV" && command -v python
        """,
        files={"sub/project/uv.toml": f'required-version = "=={OLD_UV}"\n'},
        path=f"{python_bin}:/usr/bin:/bin",
    )
    assert_ok(outcome)
    venv = tmp_path / "workspace" / "sub" / "project" / ".venv"
    assert outputs(outcome, 0)["uv-version"] == OLD_UV
    assert outputs(outcome, 0)["venv"] == str(venv)
    assert log(outcome, 1).splitlines() == [str(venv), str(venv / "bin" / "python")]


def test_activate_environment_with_a_venv_path_and_python_version(tmp_path, machine_uv, store):
    if len(INSTALLATIONS) < 2:
        pytest.skip("needs two pyenv interpreters")
    older, newer = INSTALLATIONS[-2], INSTALLATIONS[-1]
    path = f"{newer.prefix / 'bin'}:{older.prefix / 'bin'}:/usr/bin:/bin"
    outcome = run_steps(
        tmp_path,
        machine_uv,
        store,
        f"""
        - id: uv
          uses: astral-sh/setup-uv@v6
          with:
            python-version: "{older.version.minor}"
            activate-environment: true
            venv-path: envs/test
        - run: |
            echo "UV_PYTHON=$UV_PYTHON"
            python --version
        """,
        files={"README": "x"},
        path=path,
    )
    assert_ok(outcome)
    assert outputs(outcome, 0)["python-version"] == older.version.minor
    assert outputs(outcome, 0)["venv"] == str(tmp_path / "workspace" / "envs" / "test")
    assert log(outcome, 1).splitlines() == [
        f"UV_PYTHON={older.version.minor}",
        f"Python {older.version}",
    ]


def test_tool_dirs_and_cache_local_path_are_exported(tmp_path, machine_uv, store):
    home = machine_uv[0]
    outcome = run_steps(
        tmp_path,
        machine_uv,
        store,
        """
        - uses: astral-sh/setup-uv@v6
          with:
            tool-dir: ~/uv-tools
            tool-bin-dir: /opt/uv-tool-bin
            cache-local-path: ~/uv-cache
        - run: |
            echo "$UV_TOOL_DIR $UV_TOOL_BIN_DIR $UV_CACHE_DIR"
            echo "$PATH" | tr ':' '\\n' | grep -x /opt/uv-tool-bin
        """,
        files={"README": "x"},
    )
    assert_ok(outcome)
    assert log(outcome, 1).splitlines() == [
        f"{home}/uv-tools /opt/uv-tool-bin {home}/uv-cache",
        "/opt/uv-tool-bin",
    ]


def test_enable_cache_true_gives_uv_a_cache_dir_and_bad_values_fail(tmp_path, machine_uv, store):
    outcome = run_steps(
        tmp_path,
        machine_uv,
        store,
        """
        - uses: astral-sh/setup-uv@v6
          with: {enable-cache: true, cache-suffix: s, cache-dependency-glob: "**/uv.lock"}
        - run: echo "$UV_CACHE_DIR"
        - uses: astral-sh/setup-uv@v6
          with: {enable-cache: sometimes}
        """,
        files={"README": "x"},
    )
    assert outcome.result.status == Status.FAILURE
    assert log(outcome, 1).endswith("/runner_temp/setup-uv-cache")
    # No uv.lock: setup-uv warns (setup-python would fail) and caches under its other parts.
    assert "the cache will never be invalidated" in log(outcome, 0)
    assert "enable-cache must be true, false or auto, got 'sometimes'" in log(outcome, 2)


def test_an_empty_working_directory_is_warned_about_unless_ignored(tmp_path, machine_uv, store):
    outcome = run_steps(
        tmp_path,
        machine_uv,
        store,
        """
        - uses: astral-sh/setup-uv@v6
        - uses: astral-sh/setup-uv@v6
          with: {ignore-empty-workdir: true}
        """,
    )
    assert_ok(outcome)
    assert "is empty: did actions/checkout run first?" in log(outcome, 0)
    assert "is empty" not in log(outcome, 1)


def test_resolution_strategy_lowest_takes_the_oldest_match(tmp_path, machine_uv, store):
    outcome = run_steps(
        tmp_path,
        machine_uv,
        store,
        f"""
        - uses: astral-sh/setup-uv@v6
          with: {{version: "{OLD_UV}"}}
        - id: highest
          uses: astral-sh/setup-uv@v6
          with: {{version: ">={OLD_UV}"}}
        - id: lowest
          uses: astral-sh/setup-uv@v6
          with: {{version: ">={OLD_UV}", resolution-strategy: lowest}}
        """,
        files={"README": "x"},
    )
    assert_ok(outcome)
    assert outputs(outcome, 1)["uv-version"] == machine_uv[1]
    assert outputs(outcome, 2)["uv-version"] == OLD_UV


def test_checksum_is_explained_and_a_version_that_does_not_exist_fails(tmp_path, machine_uv, store):
    outcome = run_steps(
        tmp_path,
        machine_uv,
        store,
        """
        - uses: astral-sh/setup-uv@v6
          with: {checksum: abc123}
        - uses: astral-sh/setup-uv@v6
          with: {version: "0.0.1"}
        """,
        files={"README": "x"},
    )
    assert outcome.result.status == Status.FAILURE
    assert "checksum: it applies to GitHub's release archives" in log(outcome, 0)
    text = log(outcome, 1)
    assert "no uv matching '0.0.1'" in text and machine_uv[1] in text


def test_setup_python_asks_uv_for_a_version_the_machine_lacks(tmp_path, machine_uv, store):
    # UV_OFFLINE (set for every test here) makes uv's download fail at once, the same
    # way on every machine: the attempt, uv's own words and the clear error are checked.
    outcome = run_steps(
        tmp_path,
        machine_uv,
        store,
        """
        - uses: actions/setup-python@v5
          with: {python-version: "3.98"}
        """,
        files={"README": "x"},
    )
    assert outcome.result.status == Status.FAILURE
    text = log(outcome, 0)
    uv = machine_uv[0] / ".local" / "bin" / "uv"
    assert f"No local Python matches '3.98': {uv} python install 3.98" in text
    assert "no Python matching '3.98' on this machine. Available:" in text
