"""The ids of the tests a step's output says failed, so a summary can name them.

Two forms are read, each a line of its own:

- unittest and Django's runner: ``FAIL: test_total (shop.tests.CartTests.test_total)``
  and ``ERROR: ...`` (before Python 3.11 the parentheses hold only the class);
- pytest's short test summary: ``FAILED tests/test_cart.py::test_total - assert 1 == 2``
  and ``ERROR tests/test_cart.py::test_total`` (or ``ERROR tests/test_cart.py`` for a
  file that could not be collected).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# How many ids are kept to show; beyond that only their number.
KEPT_IDS = 10
# Distinct ids remembered to count each once (a matrix may fail the same test twice);
# past this many the count goes on without the check.
_REMEMBERED = 10_000

# Compiled when first needed (most runs never print a failure): compiling costs start-up.
_UNITTEST = r"^(?:FAIL|ERROR): (\w+) \(([\w.]+)\)"
_PYTEST = r"^(?:FAILED|ERROR) (\S+?\.py(?:::[^\n]*?)?)(?: - [^\n]*)?$"
_ANSI = r"\x1b\[[0-9;]*m"


class FailedTests:
    """Failed test ids found in a stream of output, each counted once."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.count = 0
        self._seen: set[str] = set()

    def feed(self, text: str) -> bool:
        """Read a batch of whole lines; True when it named a failed test."""
        # The usual batch names no failure: one memchr pass for each capital letter
        # answers for most output, several times faster than looking for the words.
        if ("F" not in text or "FAIL" not in text) and ("E" not in text or "ERROR" not in text):
            return False
        if "\x1b" in text:
            text = re.sub(_ANSI, "", text)
        found = False
        for match in re.finditer(_UNITTEST, text, re.MULTILINE):
            method, where = match.groups()
            # Python 3.11+ writes the whole id in the parentheses, older ones the class.
            self._add(where if where.endswith(f".{method}") else f"{where}.{method}")
            found = True
        for match in re.finditer(_PYTEST, text, re.MULTILINE):
            self._add(match[1].rstrip())
            found = True
        return found

    def add(self, test_ids: Sequence[str]) -> bool:
        """Take ids found elsewhere (a JUnit report); True when there were any."""
        for test_id in test_ids:
            self._add(test_id)
        return bool(test_ids)

    def _add(self, test_id: str) -> None:
        if test_id in self._seen:
            return
        if len(self._seen) < _REMEMBERED:
            self._seen.add(test_id)
        self.count += 1
        if len(self.ids) < KEPT_IDS:
            self.ids.append(test_id)
