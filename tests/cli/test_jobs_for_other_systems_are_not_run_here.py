"""A job whose runs-on this machine cannot serve (Windows, macOS) is skipped with the
reason, in the terminal output and in --json, instead of running on Linux."""

from __future__ import annotations

import platform
from pathlib import Path

from tests.helpers import run_conveyor

WORKFLOW = """\
on: push
jobs:
  win:
    runs-on: windows-latest
    steps:
      - run: echo "windows job ran"
  mac:
    strategy:
      matrix:
        os: [macos-latest]
    runs-on: ${{ matrix.os }}
    steps:
      - run: echo "mac job ran"
"""

ARCHITECTURE = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine(), "")


def test_the_reason_is_in_the_terminal_output_and_json(repo: Path) -> None:
    (repo / ".conveyor.yml").write_text(WORKFLOW)
    plain = run_conveyor("run", "--color", "never", cwd=repo)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "[win] JOB SKIP (0.00s): not run here: runs-on windows-latest" in plain.stdout
    assert "--platform windows-latest=host runs it here" in plain.stdout
    assert "[win] | windows job ran" not in plain.stdout
    assert "| mac job ran" not in plain.stdout

    events = run_conveyor("run", "--json", cwd=repo).events()
    finished = {e["job_key"]: e for e in events if e["type"] == "job_finished"}
    assert finished["mac (macos-latest)"]["status"] == "skipped"
    assert finished["mac (macos-latest)"]["reason"].startswith(
        "not run here: runs-on macos-latest, which this machine"
    )
    assert not [e for e in events if e["type"] == "step_started"]


def test_this_machines_own_labels_run(repo: Path) -> None:
    labels = ", ".join(label for label in ("self-hosted", "linux", ARCHITECTURE) if label)
    (repo / ".conveyor.yml").write_text(
        f"on: push\njobs:\n  own:\n    runs-on: [{labels}]\n    steps:\n"
        '      - run: echo "own runner ran"\n'
        '  lts:\n    runs-on: ubuntu-22.04\n    steps:\n      - run: echo "lts ran"\n'
    )
    result = run_conveyor("run", "--color", "never", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[own] | own runner ran" in result.stdout
    assert "[lts] | lts ran" in result.stdout


def test_platform_must_map_a_label_to_host(repo: Path) -> None:
    (repo / ".conveyor.yml").write_text(WORKFLOW)
    result = run_conveyor("run", "--platform", "windows-latest=node:20", cwd=repo)
    assert result.returncode == 2
    assert "--platform 'windows-latest=node:20': expected LABEL=host" in result.stderr


def test_a_job_for_another_system_is_reported_before_anything_starts(repo: Path) -> None:
    (repo / ".conveyor.yml").write_text(
        "on: push\njobs:\n"
        "  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo built\n"
        "  deploy:\n    needs: build\n    runs-on: windows-latest\n    steps:\n"
        "      - run: echo deployed\n"
        "  notify:\n    needs: deploy\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo notified\n"
    )
    result = run_conveyor("run", "--json", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    events = [(e["type"], e.get("job_key"), e.get("status")) for e in result.events()]
    skipped = events.index(("job_finished", "deploy", "skipped"))
    assert skipped < events.index(("job_started", "build", None))
    assert ("job_finished", "notify", "skipped") in events
    assert "notified" not in result.log_lines()
    assert "built" in result.log_lines()
