"""Where jobs run, for the rest of the server: asked here, so that no module outside
the dispatch package needs to know what the broker or the task backend is."""

from __future__ import annotations

from django.conf import settings


def jobs_run_on_workers() -> bool:
    """True when jobs go to ``conveyor worker`` processes (a broker is configured);
    False when they run in the server's own embedded pool."""
    return bool(getattr(settings, "CONVEYOR_BROKER_URL", ""))
