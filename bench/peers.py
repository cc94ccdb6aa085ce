"""The tools under comparison: how each one's project is laid out and started.

Each tool gets its own git repository per workload (act and gitlab-ci-local want
one; conveyor reads commit data from it), holding only that tool's file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workloads import (
    ACTION_REFS,
    Workload,
    render_bash_prefixed_script,
    render_bash_process_per_step,
    render_bash_script,
    render_conveyor_file,
    render_github_workflow,
    render_gitlab_ci,
)

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
# The project's venv holds conveyor and act; fall back to the running interpreter's.
VENV_BIN = REPO_DIR / ".venv" / "bin" if (REPO_DIR / ".venv" / "bin").is_dir() \
    else Path(sys.executable).parent
PEERS_DIR = BENCH_DIR / ".peers"
# Made by setup_peers.sh for act on the actions workload (never committed):
# a checkout of each action at its ref, a runner tool cache holding this machine's
# Python, and the directory act's built-in cache server keeps its entries in.
ACTIONS_DIR = PEERS_DIR / "actions"
TOOL_CACHE_DIR = PEERS_DIR / "toolcache"
ACT_CACHE_SERVER_DIR = PEERS_DIR / "act-cache-server"


def action_checkout(name: str, ref: str) -> Path:
    """Where setup_peers.sh puts `name@ref` (e.g. .peers/actions/setup-python@v5)."""
    return ACTIONS_DIR / f"{name.split('/', 1)[1]}@{ref}"


@dataclass(frozen=True)
class Tool:
    name: str
    # Files (relative path -> text) that make up this tool's project for a workload.
    render: Callable[[Workload], dict[str, str]]
    command: list[str]
    extra_env: dict[str, str] = field(default_factory=dict)
    # False for reference rows that ignore the workload (nothing to verify).
    runs_workload: bool = True
    # Whether the tool runs GitHub's `uses:` steps (only such tools get that workload).
    runs_actions: bool = False
    # The command for one workload, when it differs from `command`.
    command_for: Callable[[Workload], list[str]] | None = None
    # Why the tool can't run one workload here (beyond missing_reason), or None.
    workload_missing: Callable[[Workload], str | None] | None = None

    def command_for_workload(self, workload: Workload) -> list[str]:
        return self.command_for(workload) if self.command_for else self.command

    def missing_reason_for(self, workload: Workload) -> str | None:
        reason = self.missing_reason()
        if reason is None and self.workload_missing is not None:
            reason = self.workload_missing(workload)
        return reason

    def missing_reason(self) -> str | None:
        """Why this tool can't run here, or None when it can."""
        executable = self.command[0]
        if os.sep in executable:
            return None if os.access(executable, os.X_OK) else f"{executable} not found"
        return None if shutil.which(executable) else f"{executable} not on PATH"


def _git(repo: Path, *arguments: str) -> None:
    subprocess.run(
        ["git", *arguments], cwd=repo, check=True, capture_output=True,
        env={**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
             "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"},
    )


def prepare_project(tool: Tool, workload: Workload, directory: Path) -> None:
    """Create `directory` as a one-commit git repository holding the tool's files."""
    directory.mkdir(parents=True)
    for relative_path, text in tool.render(workload).items():
        target = directory / relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    _git(directory, "init", "-q", "-b", "main")
    _git(directory, "add", ".")
    _git(directory, "commit", "-q", "--allow-empty", "-m", f"bench workload {workload.key}")
    # A remote with a default branch, as in a real clone; gitlab-ci-local asks for both.
    _git(directory, "remote", "add", "origin", "git@git.invalid:bench/bench.git")
    _git(directory, "update-ref", "refs/remotes/origin/main", "HEAD")
    _git(directory, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")


def _conveyor() -> Tool:
    return Tool(
        "conveyor",
        lambda workload: {".conveyor.yml": render_conveyor_file(workload)},
        [str(VENV_BIN / "conveyor"), "run", "--workflow", ".conveyor.yml"],
        runs_actions=True,
    )


def _act_actions_missing(workload: Workload) -> str | None:
    if not workload.uses_actions:
        return None
    absent = [f"{name}@{ref}" for name, ref in ACTION_REFS
              if not (action_checkout(name, ref) / "action.yml").is_file()]
    if absent:
        return (f"no local copy of {', '.join(absent)} under {ACTIONS_DIR} "
                "(see bench/README.md: fetch the snapshots once, then bench/setup_peers.sh)")
    if not TOOL_CACHE_DIR.is_dir():
        return f"no runner tool cache at {TOOL_CACHE_DIR} (bench/setup_peers.sh makes it)"
    return None


def _act() -> Tool:
    workflow = ".github/workflows/ci.yml"
    base = [str(VENV_BIN / "act"), "push", "-W", workflow, "-P", "ubuntu-latest=-self-hosted"]

    def command_for(workload: Workload) -> list[str]:
        if not workload.uses_actions:
            return [*base, "--no-cache-server"]
        # Offline: each action from its local copy, the interpreter from a tool cache
        # (setup-python reads AGENT_TOOLSDIRECTORY before RUNNER_TOOL_CACHE), and act's
        # own cache server on loopback for actions/cache.
        local = [argument for name, ref in ACTION_REFS for argument in
                 ("--local-repository", f"{name}@{ref}={action_checkout(name, ref)}")]
        return [*base, *local, "--env", f"AGENT_TOOLSDIRECTORY={TOOL_CACHE_DIR}",
                "--cache-server-addr", "127.0.0.1",
                "--cache-server-path", str(ACT_CACHE_SERVER_DIR)]

    return Tool(
        "act",
        lambda workload: {workflow: render_github_workflow(workload)},
        [*base, "--no-cache-server"],
        extra_env={"ACT_DISABLE_VERSION_CHECK": "1"},
        runs_actions=True,
        command_for=command_for,
        workload_missing=_act_actions_missing,
    )


def _gitlab_ci_local() -> Tool:
    # Defaults on purpose (shell executor, no --shell-isolation): what a user gets.
    return Tool(
        "gitlab-ci-local",
        lambda workload: {".gitlab-ci.yml": render_gitlab_ci(workload)},
        [str(PEERS_DIR / "node_modules" / ".bin" / "gitlab-ci-local")],
    )


def _bash() -> Tool:
    return Tool(
        "bash",
        lambda workload: {"run.sh": render_bash_script(workload)},
        ["bash", "run.sh"],
    )


def _bash_prefixed() -> Tool:
    # Like for like on (c): bash writing the same prefixed lines conveyor writes.
    return Tool(
        "bash+sed prefix",
        lambda workload: {"run.sh": render_bash_prefixed_script(workload)},
        ["bash", "run.sh"],
    )


def _bash_process_per_step() -> Tool:
    # What any runner that starts `bash -e FILE` per step can't go below on this machine.
    return Tool("bash-per-step", render_bash_process_per_step, ["bash", "run.sh"])


def _python_startup() -> Tool:
    # The floor for any Python CLI: the interpreter starting and exiting.
    return Tool(
        "python -c pass",
        lambda workload: {},
        [sys.executable, "-c", "pass"],
        runs_workload=False,
    )


def all_tools() -> dict[str, Tool]:
    tools = [_conveyor(), _act(), _gitlab_ci_local(), _bash(), _bash_prefixed(),
             _bash_process_per_step(),
             _python_startup()]
    return {tool.name: tool for tool in tools}
