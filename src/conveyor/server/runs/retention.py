"""Retention: runs and their logs are deleted ``CONVEYOR_RETENTION_DAYS`` after they finish.

A run's artifacts go with it (a ``post_delete`` receiver, see ``runs/apps.py``); an
artifact uploaded with ``retention-days`` goes at its own time, checked at each look.

A thread in the server process (``start_retention()``; ``Retention.stop()``) looks
once at start and then every ``INTERVAL_SECONDS``. Only finished runs go, judged by
``finished_at``: a queued (or waiting) or running run is never touched, however old.
Deletion goes in small batches, each its own short transaction, log chunks first (the
bulk of the rows), so a large database is never locked for long: webhooks and workers
keep writing in between.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from conveyor.server.background import Background
from conveyor.server.runs.artifacts import remove_expired_artifacts
from conveyor.server.runs.models import FINISHED_STATUSES, LogChunk, Run

logger = logging.getLogger("conveyor.server.runs")

INTERVAL_SECONDS = 3600.0
RUN_BATCH = 50  # runs per transaction (with their jobs, steps and annotations)
CHUNK_BATCH = 500  # log chunks per transaction (~64 KiB of text each)


def expired(days: int, now: datetime | None = None) -> QuerySet[Run]:
    """The finished runs older than ``days`` (a queryset)."""
    cutoff = (now or timezone.now()) - timedelta(days=days)
    return Run.objects.filter(status__in=FINISHED_STATUSES, finished_at__lt=cutoff)


def purge_expired(
    days: int,
    *,
    now: datetime | None = None,
    run_batch: int = RUN_BATCH,
    chunk_batch: int = CHUNK_BATCH,
    stopping: threading.Event | None = None,
) -> int:
    """Delete the runs finished more than ``days`` ago; returns how many. 0 days: none."""
    if days <= 0:
        return 0
    now = now or timezone.now()
    deleted = 0
    while stopping is None or not stopping.is_set():
        ids = list(
            expired(days, now).order_by("finished_at").values_list("pk", flat=True)[:run_batch]
        )
        if not ids:
            break
        _delete_log_chunks(ids, chunk_batch, stopping)
        with transaction.atomic():
            # Asked again inside the transaction: a run cannot stop being finished, but
            # the filter keeps the rule in one place should that ever change.
            _, per_model = expired(days, now).filter(pk__in=ids).delete()
        deleted += per_model.get("runs.Run", 0)
    return deleted


def _delete_log_chunks(run_ids: list[int], batch: int, stopping: threading.Event | None) -> None:
    chunks = LogChunk.objects.filter(step__job__run_id__in=run_ids)
    while stopping is None or not stopping.is_set():
        ids = list(chunks.values_list("pk", flat=True)[:batch])
        if not ids:
            return
        LogChunk.objects.filter(pk__in=ids).delete()


class Retention(Background):
    """The retention thread: one look at start, then one every ``interval`` seconds."""

    thread_name = "conveyor-retention"

    def __init__(self, days: int, interval: float = INTERVAL_SECONDS) -> None:
        super().__init__()
        self.days = days
        self.interval = interval

    def one_pass(self) -> float:
        self.look()
        return self.interval

    def look(self) -> None:
        try:
            gone = remove_expired_artifacts()
        except OSError:
            logger.exception("retention: deleting expired artifacts failed")
        else:
            if gone:
                logger.info("retention: deleted %s artifact(s) past their retention-days", gone)
        try:
            count = purge_expired(self.days, stopping=self._stopping)
        except Exception:
            # A failed pass (a locked or lost database) is tried again at the next one.
            logger.exception("retention: deleting old runs failed")
            return
        if count:
            logger.info("retention: deleted %s run(s) finished over %s days ago", count, self.days)


def start_retention() -> Retention | None:
    """Start the thread (``conveyor server`` calls this); None when runs are kept forever."""
    days = settings.CONVEYOR_RETENTION_DAYS
    if not days:
        return None
    retention = Retention(days)
    retention.start()
    return retention
