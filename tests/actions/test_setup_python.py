"""actions/setup-python over this machine's real interpreters: each documented input matters."""

from __future__ import annotations

import platform
import textwrap
import zipfile
from pathlib import Path

import pytest

from conveyor.engine.events import Status
from conveyor.executors.local import LocalExecutor
from tests.actions.python_machine import INSTALLATIONS, machine_env, needs_three
from tests.engine.helpers import Outcome, run_yaml

pytestmark = needs_three

OLD, MIDDLE, NEWEST = INSTALLATIONS[-3:] if len(INSTALLATIONS) >= 3 else [None] * 3


def run_steps(
    tmp_path: Path,
    steps: str,
    env: dict[str, str] | None = None,
    files: dict[str, str] | None = None,
) -> Outcome:
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    for name, text in (files or {}).items():
        (workspace / name).write_text(text)
    workflow = "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n" + textwrap.indent(
        textwrap.dedent(steps), "      "
    )
    return run_yaml(
        workflow,
        str(workspace),
        executor=LocalExecutor(),
        base_env=env or machine_env(tmp_path),
        store_dir=str(tmp_path / "store"),
    )


def log(outcome: Outcome, step: int) -> str:
    return "\n".join(outcome.events.log("t", step))


def outputs(outcome: Outcome, step: int) -> dict[str, str]:
    return outcome.result.jobs["t"].steps[step].outputs


def assert_ok(outcome: Outcome) -> None:
    assert outcome.result.status == Status.SUCCESS, outcome.events.log("t")


def test_exact_version_is_the_python_of_later_steps_with_outputs_and_env(tmp_path):
    outcome = run_steps(
        tmp_path,
        f"""
        - id: py
          uses: actions/setup-python@v5
          with:
            python-version: "{OLD.version}"
        - run: |
            python --version
            python3 --version
            pip --version
            echo "location=$pythonLocation root=$Python_ROOT_DIR root3=$Python3_ROOT_DIR"
            echo "pkg=$PKG_CONFIG_PATH ld=$LD_LIBRARY_PATH"
            echo "out=${{{{ steps.py.outputs.python-version }}}}"
            echo "path=${{{{ steps.py.outputs.python-path }}}}"
        """,
    )
    assert_ok(outcome)
    text = log(outcome, 1)
    location = str(tmp_path / "pyenv" / "versions" / str(OLD.version))
    assert f"Python {OLD.version}" in text
    assert "pip " in text and f"python {OLD.version.minor}" in text
    assert f"location={location} root={location} root3={location}" in text
    assert f"pkg={location}/lib/pkgconfig ld={location}/lib" in text
    assert f"out={OLD.version}\npath={location}/bin/python" in text
    assert outputs(outcome, 0)["python-version"] == str(OLD.version)


def test_minor_version_takes_the_newest_patch_and_ranges_pick_within(tmp_path):
    outcome = run_steps(
        tmp_path,
        f"""
        - uses: actions/setup-python@v5
          with: {{python-version: "{MIDDLE.version.minor}"}}
        - run: python --version
        - uses: actions/setup-python@v5
          with: {{python-version: ">={OLD.version.minor} <{NEWEST.version.minor}"}}
        - run: python --version
        - uses: actions/setup-python@v5
          with: {{python-version: "3.x"}}
        - run: python --version
        """,
    )
    assert_ok(outcome)
    assert log(outcome, 1) == f"Python {MIDDLE.version}"
    assert log(outcome, 3) == f"Python {MIDDLE.version}"
    assert log(outcome, 5) == f"Python {NEWEST.version}"


def test_several_versions_the_last_is_the_default_the_others_stay_reachable(tmp_path):
    outcome = run_steps(
        tmp_path,
        f"""
        - id: py
          uses: actions/setup-python@v5
          with:
            python-version: |
              {NEWEST.version.minor}
              {OLD.version.minor}
        - run: python --version && python{NEWEST.version.minor} --version
        """,
    )
    assert_ok(outcome)
    assert log(outcome, 1).splitlines() == [f"Python {OLD.version}", f"Python {NEWEST.version}"]
    assert outputs(outcome, 0)["python-version"] == str(OLD.version)


@pytest.mark.parametrize(
    ("file_name", "text"),
    [
        (".python-version", "# the project's\n{minor}\n"),
        ("pyproject.toml", '[project]\nname = "x"\nrequires-python = "=={minor}.*"\n'),
        ("poetry/pyproject.toml", '[tool.poetry.dependencies]\npython = "~{minor}"\n'),
        (".tool-versions", "nodejs 20.1.0\npython {minor}\n"),
        ("Pipfile", '[requires]\npython_version = "{minor}"\n'),
    ],
)
def test_python_version_file(tmp_path, file_name, text):
    (tmp_path / "workspace" / "poetry").mkdir(parents=True)
    outcome = run_steps(
        tmp_path,
        f"""
        - uses: actions/setup-python@v5
          with: {{python-version-file: "{file_name}"}}
        - run: python --version
        """,
        files={file_name: text.format(minor=OLD.version.minor)},
    )
    assert_ok(outcome)
    assert log(outcome, 1) == f"Python {OLD.version}"


def test_a_missing_version_file_fails_clearly(tmp_path):
    outcome = run_steps(
        tmp_path,
        """
        - uses: actions/setup-python@v5
          with: {python-version-file: ".python-version"}
        """,
    )
    assert outcome.result.status == Status.FAILURE
    assert "ci.yml:7:15:" in log(outcome, 0)
    assert "python-version-file '.python-version' does not exist" in log(outcome, 0)


def test_a_version_file_outside_the_workspace_is_refused(tmp_path):
    (tmp_path / "secret").write_text(f"{OLD.version.minor}\n")
    (tmp_path / "workspace").mkdir()
    (tmp_path / "workspace" / "link").symlink_to(tmp_path / "secret")
    outcome = run_steps(
        tmp_path,
        """
        - uses: actions/setup-python@v5
          with: {python-version-file: link}
        """,
    )
    assert outcome.result.status == Status.FAILURE
    assert "outside the workspace" in log(outcome, 0)


def test_without_inputs_the_workspace_python_version_is_read(tmp_path):
    outcome = run_steps(
        tmp_path,
        """
        - uses: actions/setup-python@v5
        - run: python --version
        """,
        files={".python-version": f"{MIDDLE.version}\n"},
    )
    assert_ok(outcome)
    assert log(outcome, 1) == f"Python {MIDDLE.version}"


def test_without_anything_asked_the_path_is_left_alone(tmp_path):
    outcome = run_steps(
        tmp_path,
        """
        - uses: actions/setup-python@v5
        - run: echo "[$pythonLocation]"
        """,
    )
    assert_ok(outcome)
    assert "neither python-version nor python-version-file" in log(outcome, 0)
    assert log(outcome, 1) == "[]"


def test_no_match_names_the_versions_available(tmp_path):
    outcome = run_steps(
        tmp_path,
        """
        - uses: actions/setup-python@v5
          with: {python-version: "3.99"}
        """,
    )
    assert outcome.result.status == Status.FAILURE
    text = log(outcome, 0)
    assert "ci.yml:7:15:" in text and "no Python matching '3.99'" in text
    for installation in (OLD, MIDDLE, NEWEST):
        assert str(installation.version) in text


def test_pypy_requests_are_read_and_matched_by_implementation(tmp_path):
    outcome = run_steps(
        tmp_path,
        f"""
        - uses: actions/setup-python@v5
          with: {{python-version: "pypy-{OLD.version.minor}"}}
        """,
    )
    # This machine's interpreters are CPython: the request is understood, and not met by them.
    assert outcome.result.status == Status.FAILURE
    assert f"no Python matching 'pypy-{OLD.version.minor}'" in log(outcome, 0)


def test_allow_prereleases_and_dev_accept_a_pre_release(tmp_path):
    # A real interpreter installed under a pre-release name, as pyenv names them.
    env = machine_env(tmp_path, {"3.99.0a1": NEWEST.prefix})
    steps = """
        - id: plain
          continue-on-error: true
          uses: actions/setup-python@v5
          with: {python-version: "3.99"}
        - id: allowed
          uses: actions/setup-python@v5
          with: {python-version: "3.99", allow-prereleases: true}
        - id: dev
          uses: actions/setup-python@v5
          with: {python-version: "3.99-dev"}
        """
    outcome = run_steps(tmp_path, steps, env)
    assert_ok(outcome)
    assert outcome.result.jobs["t"].steps[0].outcome == Status.FAILURE
    assert outputs(outcome, 1)["python-version"] == "3.99.0a1"
    assert outputs(outcome, 2)["python-version"] == "3.99.0a1"


def test_freethreaded_asks_for_a_free_threaded_build(tmp_path):
    env = machine_env(tmp_path, {f"{NEWEST.version}t": NEWEST.prefix})
    outcome = run_steps(
        tmp_path,
        f"""
        - id: plain
          uses: actions/setup-python@v5
          with: {{python-version: "{NEWEST.version.minor}"}}
        - id: threaded
          uses: actions/setup-python@v5
          with: {{python-version: "{NEWEST.version.minor}", freethreaded: true}}
        """,
        env,
    )
    assert_ok(outcome)
    assert outputs(outcome, 0)["python-version"] == str(NEWEST.version)
    assert outputs(outcome, 1)["python-version"] == f"{NEWEST.version}t"


def test_architecture_of_this_machine_is_accepted_another_refused(tmp_path):
    here = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    outcome = run_steps(
        tmp_path,
        f"""
        - uses: actions/setup-python@v5
          with: {{python-version: "{OLD.version}", architecture: {here}}}
        - uses: actions/setup-python@v5
          with: {{python-version: "{OLD.version}", architecture: x86}}
        """,
    )
    assert outcome.result.status == Status.FAILURE
    assert outcome.result.jobs["t"].steps[0].outcome == Status.SUCCESS
    assert "architecture 'x86' is not available" in log(outcome, 1)


def test_update_environment_false_changes_nothing_but_gives_the_path(tmp_path):
    outcome = run_steps(
        tmp_path,
        f"""
        - id: py
          uses: actions/setup-python@v5
          with: {{python-version: "{OLD.version}", update-environment: false}}
        - run: |
            echo "[$pythonLocation]"
            command -v python || echo "no python"
            "${{{{ steps.py.outputs.python-path }}}}" --version
        """,
    )
    assert_ok(outcome)
    assert log(outcome, 1).splitlines() == ["[]", "no python", f"Python {OLD.version}"]


def test_check_latest_and_token_are_accepted(tmp_path):
    outcome = run_steps(
        tmp_path,
        f"""
        - uses: actions/setup-python@v5
          with: {{python-version: "{OLD.version.minor}", check-latest: true, token: abc}}
        """,
    )
    assert_ok(outcome)
    text = log(outcome, 0)
    assert "check-latest: Conveyor uses the newest matching interpreter" in text
    assert "unexpected input" not in text


def test_an_unknown_cache_manager_is_refused(tmp_path):
    outcome = run_steps(
        tmp_path,
        f"""
        - uses: actions/setup-python@v5
          with: {{python-version: "{OLD.version}", cache: npm}}
        """,
    )
    assert outcome.result.status == Status.FAILURE
    assert "cache: 'npm' is not supported; use one of pip, pipenv, poetry, uv" in log(outcome, 0)


def write_wheel(directory: Path) -> Path:
    """A minimal pure-Python wheel, so pip installs without an index or a build."""
    wheel = directory / "hello_conveyor-1.0-py3-none-any.whl"
    info = "hello_conveyor-1.0.dist-info"
    files = {
        "hello_conveyor.py": "GREETING = 'hello from a wheel'\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: hello-conveyor\nVersion: 1.0\n",
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr(
            f"{info}/RECORD", "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
        )
    return wheel


def test_pip_install_runs_pip_of_the_chosen_python(tmp_path):
    (tmp_path / "workspace").mkdir()
    wheel = write_wheel(tmp_path / "workspace")
    target = tmp_path / "site"
    outcome = run_steps(
        tmp_path,
        f"""
        - uses: actions/setup-python@v5
          with:
            python-version: "{OLD.version}"
            pip-install: --no-index --target {target} {wheel.name}
        - run: PYTHONPATH={target} python -c "import hello_conveyor; print(hello_conveyor.GREETING)"
        """,
    )
    assert_ok(outcome)
    assert log(outcome, 1) == "hello from a wheel"


def test_pip_version_must_be_a_version(tmp_path):
    outcome = run_steps(
        tmp_path,
        f"""
        - uses: actions/setup-python@v5
          with: {{python-version: "{OLD.version}", pip-version: "latest please"}}
        """,
    )
    assert outcome.result.status == Status.FAILURE
    assert "pip-version must be major[.minor][.patch]" in log(outcome, 0)


def test_a_system_interpreter_pip_refuses_gets_a_virtual_environment_of_the_job(tmp_path):
    system = Path("/usr/bin")
    names = sorted(p.name for p in system.glob("python3.*") if p.name[8:].isdigit())
    managed = [name for name in names if (Path("/usr/lib") / name / "EXTERNALLY-MANAGED").exists()]
    if not managed:
        pytest.skip("no externally managed /usr/bin/python3.X here")
    minor = managed[-1].removeprefix("python")
    (tmp_path / "workspace").mkdir()
    wheel = write_wheel(tmp_path / "workspace")
    env = machine_env(tmp_path)
    env["PYENV_ROOT"] = str(tmp_path / "no-pyenv")
    outcome = run_steps(
        tmp_path,
        f"""
        - id: py
          uses: actions/setup-python@v5
          with: {{python-version: "{minor}"}}
        - run: |
            pip install --no-index --quiet {wheel.name}
            python -c "import sys, hello_conveyor; print(sys.base_prefix, hello_conveyor.GREETING)"
            echo "$pythonLocation"
        """,
        env,
    )
    assert_ok(outcome)
    venv = outputs(outcome, 0)["python-path"].removesuffix("/bin/python")
    assert venv.endswith(f"/setup-python-venv/{outputs(outcome, 0)['python-version']}")
    assert "virtual environment" in log(outcome, 0)
    assert log(outcome, 1).splitlines() == ["/usr hello from a wheel", venv]


def test_inside_a_composite_action_its_environment_reaches_the_job(tmp_path):
    action = tmp_path / "workspace" / ".github" / "actions" / "python"
    action.mkdir(parents=True)
    (action / "action.yml").write_text(
        textwrap.dedent(
            f"""
            name: Python for the project
            outputs:
              path:
                value: ${{{{ steps.py.outputs.python-path }}}}
            runs:
              using: composite
              steps:
                - id: py
                  uses: actions/setup-python@v5
                  with: {{python-version: "{MIDDLE.version.minor}"}}
            """
        )
    )
    outcome = run_steps(
        tmp_path,
        """
        - id: project
          uses: ./.github/actions/python
        - run: python --version
        """,
    )
    assert_ok(outcome)
    assert f"Using Python {MIDDLE.version}" in log(outcome, 0)
    assert log(outcome, 1) == f"Python {MIDDLE.version}"
    assert outputs(outcome, 0)["path"].endswith(f"versions/{MIDDLE.version}/bin/python")


def test_names_already_right_are_kept_and_wrong_ones_are_made_again(tmp_path):
    steps = f"""
        - uses: actions/setup-python@v5
          with:
            python-version: "{OLD.version}"
        - run: |
            python --version
            pip --version
        """
    env = machine_env(tmp_path)
    assert_ok(run_steps(tmp_path, steps, env))
    (names,) = (tmp_path / "store" / "tools" / "python-names").glob(f"{OLD.version}-*/bin")
    first = {path.name: path.lstat().st_ino for path in names.iterdir()}
    assert {"python", "python3", "pip", "pip3"} <= set(first)

    # A warm run finds every name right and leaves it as it is.
    assert_ok(run_steps(tmp_path, steps, env))
    assert {path.name: path.lstat().st_ino for path in names.iterdir()} == first

    # A name pointing elsewhere, or a pip script changed, is replaced by the next run.
    (names / "python").unlink()
    (names / "python").symlink_to(MIDDLE.prefix / "bin" / "python")
    right = (names / "pip").read_text()
    (names / "pip").write_text(right + "echo extra\n")
    (names / "pip3").write_text("#!/bin/sh\necho tampered\n")
    outcome = run_steps(tmp_path, steps, env)
    assert_ok(outcome)
    text = log(outcome, 1)
    assert f"Python {OLD.version}" in text and f"python {OLD.version.minor}" in text
    assert "tampered" not in text
    assert (names / "python").resolve() == (OLD.prefix / "bin" / "python").resolve()
    for pip in ("pip", "pip3"):
        assert (names / pip).read_text().count("\n") == 2
