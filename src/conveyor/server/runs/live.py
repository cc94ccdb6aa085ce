"""In-process publish/subscribe: "run N changed", from worker threads to SSE views.

``publish`` may be called from any thread; ``wait_for_change`` is awaited on an
event loop (uvicorn's) and wakes every waiter of that run. Each run has a version
number that ``publish`` increments, so a view that read the run at version ``v``
and then waits with ``since=v`` never misses a change that happened in between.
Publishing for a run also wakes the waiters of ``ANY_RUN`` (dashboards).
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict

ANY_RUN = 0  # run ids start at 1

_lock = threading.Lock()
_versions: dict[int, int] = defaultdict(int)
_waiters: dict[int, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = defaultdict(set)


def version(run_id: int) -> int:
    with _lock:
        return _versions.get(run_id, 0)


def publish(run_id: int) -> None:
    """Tell everyone waiting on ``run_id`` (and on ``ANY_RUN``) that it changed."""
    with _lock:
        woken = []
        for key in (run_id, ANY_RUN) if run_id != ANY_RUN else (ANY_RUN,):
            _versions[key] += 1
            woken.extend(_waiters.get(key, ()))
    for loop, event in woken:
        try:
            loop.call_soon_threadsafe(event.set)
        except RuntimeError:
            pass  # that loop is closed; its waiter is gone


async def wait_for_change(run_id: int, timeout: float, since: int | None = None) -> bool:
    """Wait until ``run_id`` changes (after version ``since``, when given) or ``timeout``.

    Returns True when it changed, False on timeout.
    """
    loop = asyncio.get_running_loop()
    event = asyncio.Event()
    entry = (loop, event)
    with _lock:
        if since is not None and _versions.get(run_id, 0) != since:
            return True
        _waiters[run_id].add(entry)
    try:
        await asyncio.wait_for(event.wait(), timeout)
        return True
    except TimeoutError:
        return False
    finally:
        with _lock:
            waiters = _waiters.get(run_id)
            if waiters is not None:
                waiters.discard(entry)
                if not waiters:
                    del _waiters[run_id]
