"""STAND-IN for the reverse proxy on ``bind`` (branch ``proxy`` writes the real one).

This module only implements the contract the deploy codes against, simply: no daemon
is started and nothing listens on ``bind``; ``switch`` records the upstream in
``<state_dir>/proxy-stand-in.json``. The real module replaces this file on merge.
"""

from __future__ import annotations

import json
import os

from conveyor.deploy.state import write_json_atomically

STAND_IN = True  # the real proxy module has no such name: tests look for it


def ensure_proxy(state_dir: str, bind: str) -> ProxyClient:
    """The proxy for ``bind`` (the stand-in starts nothing)."""
    return ProxyClient(state_dir, bind)


class ProxyClient:
    def __init__(self, state_dir: str, bind: str) -> None:
        self._file = os.path.join(state_dir, "proxy-stand-in.json")
        self.bind = bind

    def upstream(self) -> str | None:
        """``127.0.0.1:PORT`` currently served, or None."""
        try:
            with open(self._file, encoding="utf-8") as file:
                return json.load(file).get("upstream")
        except (OSError, ValueError):
            return None

    def switch(self, upstream: str, drain_seconds: float = 30.0) -> None:
        """New requests go to ``upstream`` from now on."""
        write_json_atomically(self._file, {"bind": self.bind, "upstream": upstream})

    def stop(self) -> None:
        try:
            os.unlink(self._file)
        except FileNotFoundError:
            pass
