"""What happens to runs and deployments, told to whoever listens (notifications,
commit statuses, monitoring) without the run path knowing them.

Each is a Django signal sent with ``send_robust`` through ``tell``: a listener that
fails is logged and never fails the run or the deployment it hears about.

- ``run_created(run)``: a run was queued (a push, a dispatch, a pull request).
- ``run_started(run)``: a worker claimed it.
- ``run_finished(run)``: it ended (``run.status`` success, failure or cancelled).
- ``deployment_changed(deployment)``: a deployment row changed: started, a deploy
  step's state (deploying, health-checking, live, failed, rolled-back), or ended.
  When a deploy step's ``DeploymentChanged`` caused it, that event comes too
  (``event``: its bind URL, health path and Host header); listeners take ``**kwargs``.
- ``incident_changed(incident)``: a ``monitoring.Incident`` opened (``resolved_at``
  None) or was resolved.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger(__name__)

run_created = Signal()
run_started = Signal()
run_finished = Signal()
deployment_changed = Signal()
incident_changed = Signal()


def tell(signal: Signal, **fields: Any) -> None:
    for receiver, result in signal.send_robust(sender=None, **fields):
        if isinstance(result, Exception):
            logger.error("a listener (%r) failed: %s", receiver, result, exc_info=result)
