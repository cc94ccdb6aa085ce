"""runs.live: publish from worker threads wakes waiters on an event loop."""

from __future__ import annotations

import asyncio
import threading
import time

from conveyor.server.runs import live


def test_publish_from_another_thread_wakes_every_waiter_at_once():
    async def scenario() -> list[bool]:
        waiters = [asyncio.create_task(live.wait_for_change(41, timeout=5)) for _ in range(3)]
        dashboard = asyncio.create_task(live.wait_for_change(live.ANY_RUN, timeout=5))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        threading.Thread(target=live.publish, args=(41,)).start()
        results = await asyncio.gather(*waiters, dashboard)
        assert time.monotonic() - started < 1.0
        return results

    assert asyncio.run(scenario()) == [True, True, True, True]


def test_wait_times_out_without_a_change_and_ignores_other_runs():
    async def scenario() -> bool:
        waiter = asyncio.create_task(live.wait_for_change(42, timeout=0.2))
        await asyncio.sleep(0.02)
        live.publish(43)
        return await waiter

    assert asyncio.run(scenario()) is False


def test_a_change_between_reading_and_waiting_is_not_missed():
    seen = live.version(44)
    live.publish(44)

    async def scenario() -> bool:
        return await live.wait_for_change(44, timeout=5, since=seen)

    started = time.monotonic()
    assert asyncio.run(scenario()) is True
    assert time.monotonic() - started < 0.5
