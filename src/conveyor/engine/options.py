"""What a run needs besides the workflow: where, for which event, with which secrets."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from conveyor.engine.git_info import GitInfo
from conveyor.engine.runner_labels import HostLabels
from conveyor.records import field, record

if TYPE_CHECKING:
    from conveyor.engine.environments import EnvironmentGate
    from conveyor.engine.services import ServiceAddress


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
    # The jobs' ``services:`` by id, mapped to services that already run (engine/services.py).
    services: dict[str, ServiceAddress] = field(default_factory=dict)
    # How the user maps a service, named in the error for an unmapped one ({name}: its id).
    service_advice: str = "--service {name}=HOST:PORT"
    # Only the matrix legs whose values match: key -> the values accepted (as text).
    matrix_filter: dict[str, list[str]] | None = None
    # Where this run keeps its artifacts (upload-artifact); None:
    # <store>/runs/<run_id>/artifacts (actions/artifact_store.py).
    artifacts_dir: str | None = None
    # An artifact's address, with "{id}" and "{name}" filled in (the server's page);
    # None: the file:// address of its archive.
    artifact_url: str | None = None
    # The workspace is a checkout made for this run alone (the server's, --clean's), so
    # actions/checkout may move it to another commit; False: the user's own working
    # tree, which a checkout of another ref must leave alone.
    disposable_workspace: bool = False
    # Whose actions/cache entries this run shares (<store>/cache/<scope>): the
    # repository's. Runs of another scope never see them. "": the workspace's path.
    cache_scope: str = ""
    # Scopes whose entries this run may restore but never save to (searched after
    # cache_scope): a fork's pull request reads its repository's cache, as on GitHub,
    # and cannot poison it.
    cache_restore_scopes: list[str] = field(default_factory=list)
    # The scope's size cap in bytes; None: CONVEYOR_CACHE_MAX_MB, else 10 GB as GitHub.
    cache_max_bytes: int | None = None
    # Asked before a job that names an ``environment:`` runs its first step (the
    # server's protection rules and environment secrets; engine/environments.py).
    # None: an environment is only a name (conveyor run).
    environment_gate: EnvironmentGate | None = None


def default_store_dir(environ: dict[str, str] | None = None) -> str:
    """``$XDG_CACHE_HOME/conveyor``, else ``~/.cache/conveyor``: what a local run keeps."""
    environ = os.environ if environ is None else environ
    cache = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "conveyor")


def run_artifacts_dir(options: RunOptions) -> str:
    """Where the run ``options`` describe keeps its artifacts: ``options.artifacts_dir``
    (the server's), else ``<store>/runs/<run_id>/artifacts``."""
    if options.artifacts_dir:
        return options.artifacts_dir
    return os.path.join(
        options.store_dir or default_store_dir(), "runs", options.run_id, "artifacts"
    )
