"""A server thread that does one piece of work again and again until the server stops.

The poller and the retention pass are such threads: ``start()`` runs the first pass at
once, each pass says how long to wait before the next (``wake()`` cuts that wait short),
``stop()`` wakes and joins it.
Each pass gets a fresh database connection (a long-lived thread's connection may have
been closed under it), and the thread closes its own at the end.
"""

from __future__ import annotations

import threading

from django.db import close_old_connections, connection


class Background:
    """Subclasses implement ``one_pass()`` (returns the seconds until the next) and name
    their thread with ``thread_name``."""

    thread_name = "conveyor-background"

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._woken = threading.Event()

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._woken.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def wake(self) -> None:
        """Start the next pass now rather than when the last one said."""
        self._woken.set()

    def one_pass(self) -> float:
        raise NotImplementedError

    def _loop(self) -> None:
        try:
            while not self._stopping.is_set():
                close_old_connections()
                pause = self.one_pass()
                if not self._stopping.is_set():
                    self._woken.wait(pause)
                    self._woken.clear()
        finally:
            connection.close()
