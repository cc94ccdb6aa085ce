"""Listeners on the server's signals that record what insights needs and the run rows
do not keep: a run's commit time when it is created, a deployment's first ``live``, a
finished run's durations in the histograms. Each is told through ``signals.tell``, so
one that fails is logged and never fails the run."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from conveyor.server.insights import histograms
from conveyor.server.insights.models import CommitTime, DeploymentLive
from conveyor.server.repos import git
from conveyor.server.repos.models import Repository
from conveyor.server.runs import signals
from conveyor.server.runs.models import Deployment, Run

logger = logging.getLogger("conveyor.server.insights")

LIVE = "live"


def connect() -> None:
    signals.run_created.connect(_on_run_created, dispatch_uid="insights-commit-time")
    signals.deployment_changed.connect(_on_deployment_changed, dispatch_uid="insights-live")
    signals.run_finished.connect(_on_run_finished, dispatch_uid="insights-histograms")


def _on_run_created(sender: Any, run: Run, **kwargs: Any) -> None:
    if run.sha:
        record_commit_times(run.repository, [run.sha])


def _on_deployment_changed(sender: Any, deployment: Deployment, **kwargs: Any) -> None:
    if deployment.state == LIVE:
        DeploymentLive.objects.get_or_create(
            deployment_id=deployment.pk, defaults={"live_at": timezone.now()}
        )


def _on_run_finished(sender: Any, run: Run, **kwargs: Any) -> None:
    histograms.tally_run(run)


def record_commit_times(repository: Repository, shas: list[str]) -> dict[str, datetime]:
    """``{sha: committed_at}`` for those of ``shas`` whose time is known: recorded, or read
    now from the repository's mirror (and recorded). A commit the mirror lacks is left out."""
    wanted = sorted({sha for sha in shas if sha})
    known = dict(
        CommitTime.objects.filter(repository=repository, sha__in=wanted).values_list(
            "sha", "committed_at"
        )
    )
    missing = [sha for sha in wanted if sha not in known]
    if missing:
        read = _read_commit_times(repository, missing)
        for sha, when in read.items():
            CommitTime.objects.get_or_create(
                repository=repository, sha=sha, defaults={"committed_at": when}
            )
        known.update(read)
    return known


def _read_commit_times(repository: Repository, shas: list[str]) -> dict[str, datetime]:
    from conveyor.server.runs import workspace

    mirror = workspace.mirror_path(repository)
    if not (mirror / "HEAD").exists():
        return {}
    found: dict[str, datetime] = {}
    for sha in shas:  # one by one: a sha the mirror lacks must not hide the others
        try:
            out = git.run_git(mirror, "show", "-s", "--format=%ct", f"{sha}^{{commit}}")
        except git.GitError as error:
            logger.info("no commit time for %s in %s: %s", sha[:7], repository.name, error)
            continue
        text = out.decode().strip()
        if text.isdigit():
            found[sha] = datetime.fromtimestamp(int(text), tz=UTC)
    return found
