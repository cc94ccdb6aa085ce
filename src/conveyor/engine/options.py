"""What a run needs besides the workflow: where, for which event, with which secrets."""

from __future__ import annotations

import os
import time
from typing import Any

from conveyor.engine.git_info import GitInfo
from conveyor.engine.runner_labels import HostLabels
from conveyor.records import field, record


def _new_run_id() -> str:
    # GitHub's run ids are large integers; a clock reading is unique enough locally.
    return str(time.time_ns() // 1000)


@record
class RunOptions:
    workspace: str  # the checkout the steps run in (absolute)
    event_name: str = "push"
    event_payload: dict[str, Any] = field(default_factory=dict)  # github.event
    git: GitInfo | None = None  # None: read from the workspace with git
    secrets: dict[str, str] = field(default_factory=dict)  # masked everywhere
    variables: dict[str, str] = field(default_factory=dict)  # the `vars` context
    inputs: dict[str, Any] = field(default_factory=dict)  # workflow_dispatch inputs
    max_parallel_jobs: int = field(default_factory=lambda: os.cpu_count() or 2)
    only_jobs: list[str] | None = None  # these job ids and, transitively, their needs
    base_env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    run_id: str = field(default_factory=_new_run_id)
    run_number: int = 1
    actor: str = ""  # empty: the GitInfo's actor (the local user name by default)
    # A step's output beyond this many bytes is dropped (the step runs on); None: no cap.
    max_step_log_bytes: int | None = None
    # The runs-on labels this machine serves; a job asking for others is skipped with
    # the reason. None: every job runs here, whatever its runs-on says.
    host_labels: HostLabels | None = None
    # Where Conveyor keeps what outlives a run: fetched actions (<store>/actions), ...
    # None: default_store_dir().
    store_dir: str | None = None
    # Where ``uses: owner/repo@ref`` is fetched from (actions/fetch.py).
    actions_url: str = "https://github.com"


def default_store_dir(environ: dict[str, str] | None = None) -> str:
    """``$XDG_CACHE_HOME/conveyor``, else ``~/.cache/conveyor``: what a local run keeps."""
    environ = os.environ if environ is None else environ
    cache = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "conveyor")
