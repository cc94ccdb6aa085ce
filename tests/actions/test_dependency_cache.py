"""dependency_cache.restore_dependencies, as setup-python's ``cache: pip`` calls it."""

from __future__ import annotations

import shutil

import pytest

from conveyor import actions
from conveyor.actions.dependency_cache import restore_dependencies
from conveyor.engine.events import Status
from conveyor.engine.step_types import StepOutcome
from tests.actions.test_cache import job, log_text, outputs, run, workspace_with


def fake_setup(host, step, scope, contexts, step_env):
    """A setup action reduced to its cache: pip's cache directory in HOME."""
    hit = restore_dependencies(
        host,
        step,
        scope,
        manager="pip",
        paths=["~/.cache/fake-pip"],
        key_parts=["setup-python", "Linux", "x64", "python-3.12.1", "pip"],
        dependency_globs=["**/requirements.txt"],
    )
    return StepOutcome(Status.SUCCESS, outputs={"cache-hit": str(hit).lower()})


@pytest.fixture(autouse=True)
def setup_action(monkeypatch):
    monkeypatch.setitem(actions.BUILT_IN, "test/setup", fake_setup)


PIP = """
- run: |
    if [ -f ~/.cache/fake-pip/wheel ]; then echo "cached $(cat ~/.cache/fake-pip/wheel)"; fi
    mkdir -p ~/.cache/fake-pip && cat requirements.txt > ~/.cache/fake-pip/wheel
"""


def pip_run(tmp_path, store, name, requirements):
    workspace = workspace_with(tmp_path, name, {"requirements.txt": requirements})
    (tmp_path / "home").mkdir(exist_ok=True)
    shutil.rmtree(tmp_path / "home")  # each run starts with an empty HOME, as on a runner
    return run(job("- id: setup\n  uses: test/setup@v1", PIP), workspace, store)


def test_a_second_run_hits_the_key_made_of_the_parts_and_the_files_hash(tmp_path):
    store = str(tmp_path / "store")
    first = pip_run(tmp_path, store, "a", "django==5.0\n")
    assert first.result.status == Status.SUCCESS, log_text(first)
    assert outputs(first)["setup"] == {"cache-hit": "false"}
    assert "pip cache is not found" in log_text(first)
    post = first.result.jobs["build"].steps[2]
    assert post.name == "Post Run test/setup@v1"
    assert "Cache saved with key: setup-python-Linux-x64-python-3.12.1-pip-" in log_text(first)

    second = pip_run(tmp_path, store, "b", "django==5.0\n")
    assert outputs(second)["setup"] == {"cache-hit": "true"}
    assert second.events.log("build", 1) == ["cached django==5.0"]
    assert "not saving cache" in log_text(second)

    # Changed requirements: pip restores the newest entry of the same prefix, then saves.
    third = pip_run(tmp_path, store, "c", "django==5.1\n")
    assert outputs(third)["setup"] == {"cache-hit": "false"}
    assert third.events.log("build", 1) == ["cached django==5.0"]
    assert "Cache saved with key" in log_text(third)


def test_no_dependency_file_is_an_error_naming_the_patterns(tmp_path):
    workspace = workspace_with(tmp_path, "a", {})
    outcome = run(job("- uses: test/setup@v1"), workspace, str(tmp_path / "store"))
    assert outcome.result.status == Status.FAILURE
    reason = outcome.result.jobs["build"].reason
    assert reason.startswith("ci.yml:6:15: test/setup@v1: No file in ")
    assert "matched to [**/requirements.txt]" in reason
