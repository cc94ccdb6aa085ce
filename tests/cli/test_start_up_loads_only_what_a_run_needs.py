"""What a `conveyor run` of an unchanged workflow loads: no YAML parser (the workflow
comes from the cache), no dataclasses machinery (records), nothing of the server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import conveyor_env, git, run_conveyor

# A real run in a child interpreter; the modules it loaded are reported afterwards.
RUN_AND_REPORT = """
import json, sys
from conveyor.cli import main
code = main(["run"])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""
NEVER = ("dataclasses", "inspect", "django", "rich", "conveyor.server", "getpass")


def run_and_report(repo: Path, cache_home: Path) -> tuple[int, set[str]]:
    completed = subprocess.run(
        [sys.executable, "-c", RUN_AND_REPORT],
        cwd=repo,
        env=conveyor_env(XDG_CACHE_HOME=str(cache_home)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(completed.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


def test_a_second_run_reads_the_workflow_without_parsing_it(repo: Path, tmp_path: Path) -> None:
    (repo / ".conveyor.yml").write_text(
        "steps:\n  - name: Build\n    run: echo building\n  - name: Test\n    run: echo testing\n"
    )
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "workflow", cwd=repo)

    code, first = run_and_report(repo, tmp_path / "cache")
    assert code == 0
    assert "yaml" in first  # nothing kept yet: parsed

    code, second = run_and_report(repo, tmp_path / "cache")
    assert code == 0
    assert "yaml" not in second and "conveyor.workflow.parse" not in second
    loaded = sorted(m for m in second if m.split(".")[0] in NEVER or m.startswith(NEVER))
    assert loaded == []


def test_only_the_named_command_is_built_and_the_rest_still_parse(repo: Path) -> None:
    """Only `run`'s options are built for a run; -C before the command is skipped over,
    and an abbreviated option falls back to the whole command line."""
    (repo / ".conveyor.yml").write_text("steps:\n  - run: echo from elsewhere\n")
    elsewhere = repo.parent
    for args in (
        ["-C", str(repo), "run"],
        ["--directory", str(repo), "run"],
        ["--dir", str(repo), "run"],
    ):
        result = run_conveyor(*args, cwd=elsewhere)
        assert result.returncode == 0, (args, result.stderr)
        assert "[pipeline] | from elsewhere\n" in result.stdout

    listed = run_conveyor("--help", cwd=elsewhere).stdout
    for command in ("run", "validate", "list", "init", "server", "repo"):
        assert f"    {command} " in listed
    wrong = run_conveyor("-C", str(repo), "run", "--no-such-option", cwd=elsewhere)
    assert wrong.returncode == 2 and "--no-such-option" in wrong.stderr
