"""The health watch: every environment with a health URL checked on an interval, each
change between up and down an Incident opened or resolved (docs/monitoring.md).

One thread in the server process (``start_health_watch()``) wakes when the next check
is due, checks all the due environments at once on a small thread pool (a check is
mostly waiting for the network) and records what changed: an environment that was up
and fails opens an incident (the failing response, or why there was none); one that was
down and answers again resolves it. A check that changes nothing writes one row update
for the whole pass. Each incident opened or resolved is told through
``signals.incident_changed``.

After a deployment went live (``deployment_changed``), its environment is checked every
``CONVEYOR_HEALTH_CLOSE_INTERVAL`` seconds for ``CONVEYOR_HEALTH_CLOSE_MINUTES``; a
failing check in that window rolls it back when the environment says so
(``auto_rollback``, off by default), once.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.utils import timezone

from conveyor.server.background import Background
from conveyor.server.monitoring.models import Health, HealthCheck, Incident
from conveyor.server.monitoring.probe import ProbeResult, probe
from conveyor.server.repos.forges.base import runs_fork_code
from conveyor.server.runs import signals
from conveyor.server.runs.models import Deployment

logger = logging.getLogger("conveyor.server.monitoring")

MAX_CONCURRENT_CHECKS = 16


class HealthWatch(Background):
    thread_name = "conveyor-health-watch"

    def __init__(
        self,
        interval: float,
        close_interval: float,
        close_minutes: float,
        timeout: float,
        concurrency: int = MAX_CONCURRENT_CHECKS,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.close_interval = min(close_interval, interval)
        self.close_window = timedelta(minutes=close_minutes)
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="conveyor-health-check")
        # HealthCheck id -> when (time.monotonic()) it is next due; absent: now.
        self._due: dict[int, float] = {}

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def check_soon(self, check_id: int) -> None:
        """Check this one at the next pass, and start that pass now."""
        self._due.pop(check_id, None)
        self.wake()

    def one_pass(self) -> float:
        try:
            watched = _watched()
            self.check_due(watched)
        except Exception:
            # A lost database or any other surprise: said, and tried again next pass.
            logger.exception("health watch: a pass failed")
            return self.interval
        return self._seconds_to_next(watched)

    def check_due(self, watched: list[HealthCheck] | None = None) -> list[HealthCheck]:
        """Check every environment that is due; returns the checks made."""
        if watched is None:
            watched = _watched()
        now_monotonic = time.monotonic()
        checks = [check for check in watched if self._due.get(check.pk, 0.0) <= now_monotonic]
        if not checks:
            return []
        results = list(self._pool.map(self._probe, checks))
        now = timezone.now()
        # Checks that changed nothing, by what they saw: one UPDATE for each result.
        unchanged: dict[str, list[int]] = {}
        for check, result in zip(checks, results, strict=True):
            if not self._record(check, result, now):
                unchanged.setdefault(result.detail, []).append(check.pk)
            self._due[check.pk] = time.monotonic() + self._interval_of(check, now)
        for detail, ids in unchanged.items():
            HealthCheck.objects.filter(pk__in=ids).update(last_checked_at=now, last_result=detail)
        return checks

    def _probe(self, check: HealthCheck) -> ProbeResult:
        return probe(check.url, check.host, self.timeout)

    def _interval_of(self, check: HealthCheck, now: datetime) -> float:
        return self.close_interval if self.closely_watched(check, now) else self.interval

    def closely_watched(self, check: HealthCheck, now: datetime) -> bool:
        return check.watched_from is not None and now - check.watched_from < self.close_window

    def _seconds_to_next(self, watched: list[HealthCheck]) -> float:
        known = {check.pk for check in watched}
        for gone in set(self._due) - known:
            self._due.pop(gone, None)
        if not known:
            return self.interval
        soonest = min(self._due.get(pk, 0.0) for pk in known)
        return max(0.0, soonest - time.monotonic())

    def _record(self, check: HealthCheck, result: ProbeResult, now: datetime) -> bool:
        """Write what ``result`` changes; False when it changes nothing but the last
        check's time and result (written for the whole pass at once, see ``check_due``)."""
        check.last_checked_at = now
        check.last_result = result.detail
        if result.healthy:
            if check.state == Health.UP:
                return False
            check.state, check.state_since = Health.UP, now
            check.save(update_fields=["state", "state_since", "last_checked_at", "last_result"])
            _resolve_incident(check, now)
            return True
        changed = check.state != Health.DOWN
        if changed:
            check.state, check.state_since = Health.DOWN, now
            check.save(update_fields=["state", "state_since", "last_checked_at", "last_result"])
            _open_incident(check, result.detail, now)
        if check.auto_rollback and not check.auto_rolled_back and self.closely_watched(check, now):
            changed = self._roll_back(check, result.detail) or changed
        return changed

    def _roll_back(self, check: HealthCheck, failure: str) -> bool:
        """Start the automatic rollback (or record why not); False when it has to wait
        for the next failing check, having written nothing."""
        from conveyor.server.monitoring.rollback import (
            WATCH_ACTOR,
            RollbackBusy,
            RollbackRefused,
            rollback_environment,
        )

        deployed = check.live_deployment
        what = f"{deployed.release or 'the deployment'}" if deployed else "the deployment"
        reason = f"{what} failed its health check within {_minutes(self.close_window)}: {failure}"
        try:
            rollback_environment(check.environment, by=WATCH_ACTOR, reason=reason)
        except RollbackBusy:
            return False  # its deploy job still holds the environment: tried at the next check
        except RollbackRefused as refused:
            logger.warning(
                "health watch: no automatic rollback of %s: %s", check.environment, refused
            )
            check.last_result = f"{failure} (no automatic rollback: {refused})"
        else:
            logger.warning("health watch: rolling back %s: %s", check.environment, reason)
        check.auto_rolled_back = True
        check.save(update_fields=["auto_rolled_back", "last_checked_at", "last_result"])
        return True


def _minutes(window: timedelta) -> str:
    minutes = window.total_seconds() / 60
    return f"{minutes:g} minute{'s' if minutes != 1 else ''} of going live"


def _watched() -> list[HealthCheck]:
    """The environments with something to check."""
    return [
        check
        for check in HealthCheck.objects.select_related(
            "environment__repository", "live_deployment"
        ).order_by("pk")
        if check.url
    ]


def serving_deployment(check: HealthCheck) -> Deployment | None:
    """The deployment that serves: the one that went live last, else the newest that did."""
    if check.live_deployment is not None:
        return check.live_deployment
    return (
        Deployment.objects.filter(environment_id=check.environment_id, state="live")
        .exclude(run__from_fork=True)
        .order_by("-pk")
        .first()
    )


def _open_incident(check: HealthCheck, reason: str, now: datetime) -> None:
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                environment=check.environment,
                deployment=serving_deployment(check),
                url=check.url,
                reason=reason,
                opened_at=now,
            )
    except IntegrityError:
        return  # one is open already (a check recorded before a restart): the same incident
    signals.tell(signals.incident_changed, incident=incident)


def _resolve_incident(check: HealthCheck, now: datetime) -> None:
    for incident in Incident.objects.filter(
        environment_id=check.environment_id, resolved_at__isnull=True
    ):
        incident.resolved_at = now
        incident.save(update_fields=["resolved_at"])
        signals.tell(signals.incident_changed, incident=incident)


# The watch this process runs, for the deployment_changed listener to wake.
_running: HealthWatch | None = None


def running_watch() -> HealthWatch | None:
    return _running


def deployment_changed(sender: Any, deployment: Deployment, **kwargs: Any) -> None:
    """A deployment of an environment went live: its URL is the one to check (unless a
    member set one), closely for a while; a rollback ends that closer watch."""
    if deployment.environment_id is None or deployment.state not in ("live", "rolled-back"):
        return
    if runs_fork_code(deployment.run):
        # A fork's code chose its bind and target: it never points the environment's
        # watch (and its automatic rollback) elsewhere.
        return
    check, _ = HealthCheck.objects.get_or_create(environment_id=deployment.environment_id)
    if deployment.state == "rolled-back":
        if check.watched_from is not None:
            check.watched_from = None
            check.save(update_fields=["watched_from"])
        return
    if check.live_deployment_id == deployment.pk:
        return  # told again (the step's end): the window started at its first "live"
    event = kwargs.get("event")
    url = (getattr(event, "url", "") or deployment.url).rstrip("/")
    check.deployed_url = url
    check.deployed_health_path = getattr(event, "health_path", "") or "/"
    check.deployed_host = getattr(event, "health_host", "") or ""
    check.live_deployment = deployment
    check.watched_from = timezone.now()
    check.auto_rolled_back = False
    # Only these: the watch may be writing what it saw of this environment meanwhile.
    check.save(
        update_fields=[
            "deployed_url",
            "deployed_health_path",
            "deployed_host",
            "live_deployment",
            "watched_from",
            "auto_rolled_back",
        ]
    )
    watch = _running
    if watch is not None:
        watch.check_soon(check.pk)


def start_health_watch() -> HealthWatch | None:
    """Start the thread (``conveyor server`` calls this); None when
    ``CONVEYOR_HEALTH_INTERVAL`` is 0. Rollbacks a stopped server left running end first."""
    global _running
    from conveyor.server.monitoring.rollback import end_interrupted_rollbacks

    close_old_connections()
    ended = end_interrupted_rollbacks()
    if ended:
        logger.warning("%s rollback(s) left running by a stopped server marked failed", ended)
    if not settings.CONVEYOR_HEALTH_INTERVAL:
        return None
    _running = HealthWatch(
        interval=settings.CONVEYOR_HEALTH_INTERVAL,
        close_interval=settings.CONVEYOR_HEALTH_CLOSE_INTERVAL,
        close_minutes=settings.CONVEYOR_HEALTH_CLOSE_MINUTES,
        timeout=settings.CONVEYOR_HEALTH_TIMEOUT,
    )
    _running.start()
    return _running


def stop_health_watch(watch: HealthWatch) -> None:
    global _running
    watch.stop()
    if _running is watch:
        _running = None
