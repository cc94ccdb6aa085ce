"""The delivery queue: ``queue()`` adds an ``Outbound`` row once per key, the
``DeliveryWorker`` thread sends the rows that are due, and a failed attempt is tried
again after an exponentially growing delay until ``CONVEYOR_NOTIFY_ATTEMPTS``.

A row is claimed before it is sent (its next attempt moved a lease ahead, in one
UPDATE), so two threads or two servers never send it both; a server that dies while
sending leaves it to be tried again once the lease is over.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from conveyor.server.background import Background
from conveyor.server.notifications import senders
from conveyor.server.notifications.models import (
    Channel,
    Outbound,
    OutboundKind,
    OutboundStatus,
)
from conveyor.server.repos.models import Repository

logger = logging.getLogger("conveyor.server.notifications")

LEASE = timedelta(minutes=2)  # longer than one attempt can take (HTTP and SMTP time out)
MAX_DELAY_SECONDS = 6 * 3600
IDLE_SECONDS = 30.0  # how long the thread sleeps with nothing due, unless woken
BATCH = 50
KEEP_DAYS = 30  # finished deliveries are kept this long, for the page and the API
PRUNE_EVERY_SECONDS = 3600.0


def retry_base_seconds() -> float:
    return float(getattr(settings, "CONVEYOR_NOTIFY_RETRY_SECONDS", 30))


def max_attempts() -> int:
    return int(getattr(settings, "CONVEYOR_NOTIFY_ATTEMPTS", 8))


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: base, twice that, four times... capped."""
    seconds = min(retry_base_seconds() * 2 ** max(attempts - 1, 0), MAX_DELAY_SECONDS)
    return timedelta(seconds=seconds)


def queue(
    key: str,
    kind: str,
    repository: Repository,
    event: str,
    message: dict[str, Any],
    channel: Channel | None = None,
) -> bool:
    """Queue a message once: False when a row with ``key`` exists already."""
    try:
        with transaction.atomic():
            if Outbound.objects.filter(key=key).exists():
                return False
            Outbound.objects.create(
                key=key,
                kind=kind,
                repository=repository,
                channel=channel,
                event=event,
                message=message,
                next_attempt_at=timezone.now(),
            )
    except IntegrityError:  # queued at the same moment by another thread
        return False
    transaction.on_commit(wake)
    return True


def deliver_due(now: datetime | None = None, limit: int = BATCH) -> float:
    """Send what is due at ``now`` (tests pass a time; the thread, the clock's); returns
    the seconds until the next row is due."""
    due = list(
        Outbound.objects.filter(
            status=OutboundStatus.PENDING, next_attempt_at__lte=now or timezone.now()
        )
        .order_by("next_attempt_at", "id")
        .values_list("pk", "next_attempt_at")[:limit]
    )
    for pk, due_at in due:
        # Each row's own time: a batch of slow receivers must not shorten the later leases.
        moment = now or timezone.now()
        claimed = Outbound.objects.filter(
            pk=pk, status=OutboundStatus.PENDING, next_attempt_at=due_at
        ).update(next_attempt_at=moment + LEASE)
        if claimed:
            attempt(Outbound.objects.select_related("channel", "repository").get(pk=pk), moment)
    following = (
        Outbound.objects.filter(status=OutboundStatus.PENDING)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if following is None:
        return IDLE_SECONDS
    return min(max((following - timezone.now()).total_seconds(), 0.0), IDLE_SECONDS)


def attempt(row: Outbound, now: datetime) -> None:
    """One attempt at a claimed row, its outcome recorded on it."""
    if _superseded(row):
        Outbound.objects.filter(pk=row.pk).update(status=OutboundStatus.SUPERSEDED)
        return
    attempts = row.attempts + 1
    try:
        send(row)
    except senders.DeliveryFailed as failed:
        error = str(failed)
    except Exception as unexpected:  # a bug must not stop the queue
        logger.exception("notifications: delivery %s failed unexpectedly", row.pk)
        error = f"unexpected error: {type(unexpected).__name__}"
    else:
        Outbound.objects.filter(pk=row.pk).update(
            status=OutboundStatus.SENT,
            attempts=attempts,
            last_attempt_at=now,
            sent_at=timezone.now(),
            last_error="",
        )
        return
    gave_up = attempts >= max_attempts()
    Outbound.objects.filter(pk=row.pk).update(
        status=OutboundStatus.FAILED if gave_up else OutboundStatus.PENDING,
        attempts=attempts,
        last_attempt_at=now,
        last_error=error[:2000],
        next_attempt_at=now if gave_up else now + backoff(attempts),
    )
    logger.warning(
        "notifications: %s %s, attempt %s%s: %s",
        row.kind,
        row.event,
        attempts,
        " (given up)" if gave_up else "",
        error,
    )


def prune(now: datetime | None = None) -> int:
    """Delete the deliveries that ended over ``KEEP_DAYS`` ago; returns how many."""
    before = (now or timezone.now()) - timedelta(days=KEEP_DAYS)
    deleted, _ = Outbound.objects.filter(
        status__in=(OutboundStatus.SENT, OutboundStatus.FAILED, OutboundStatus.SUPERSEDED),
        created_at__lt=before,
    ).delete()
    return deleted


def _superseded(row: Outbound) -> bool:
    """A commit status of a run whose newer status was sent already (this one, retried
    late, would put an older state back on the commit)."""
    if row.kind != OutboundKind.COMMIT_STATUS:
        return False
    group = row.key.rsplit(":", 1)[0] + ":"
    return Outbound.objects.filter(
        key__startswith=group, pk__gt=row.pk, status=OutboundStatus.SENT
    ).exists()


def send(row: Outbound) -> None:
    if row.kind == OutboundKind.COMMIT_STATUS:
        setting = getattr(row.repository, "forge_status", None)
        if setting is None or not setting.enabled:
            raise senders.DeliveryFailed("commit statuses are not set up for this repository")
        senders.send_commit_status(setting, row.message)
        return
    channel = row.channel
    if channel is None or not channel.enabled:
        raise senders.DeliveryFailed("the channel is disabled")
    senders.send_notification(channel, row.message, row.key)


class DeliveryWorker(Background):
    """The thread that sends due rows; ``wake()`` makes it look at once."""

    thread_name = "conveyor-notifications"

    def __init__(self) -> None:
        super().__init__()
        self._wakeup = threading.Event()
        self._pruned_at = -PRUNE_EVERY_SECONDS

    def wake(self) -> None:
        self._wakeup.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wakeup.set()
        super().stop(timeout)

    def one_pass(self) -> float:
        try:
            if time.monotonic() - self._pruned_at >= PRUNE_EVERY_SECONDS:
                self._pruned_at = time.monotonic()
                prune()
            delay = deliver_due()
        except Exception:  # a locked or lost database: try again a little later
            logger.exception("notifications: a delivery pass failed")
            delay = IDLE_SECONDS
        self._wakeup.wait(delay)
        self._wakeup.clear()
        return 0.0


_worker: DeliveryWorker | None = None


def wake() -> None:
    if _worker is not None:
        _worker.wake()


def start_delivery() -> DeliveryWorker:
    """Start the delivery thread (``conveyor server`` calls this)."""
    global _worker
    _worker = DeliveryWorker()
    _worker.start()
    return _worker


def stop_delivery(worker: DeliveryWorker, timeout: float = 5.0) -> None:
    global _worker
    worker.stop(timeout)
    if _worker is worker:
        _worker = None
