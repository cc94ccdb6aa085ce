"""Secret masking: every registered value is replaced by ``***`` wherever the run shows text.

One ``Masker`` is shared by all jobs of a run, so an ``::add-mask::`` in one step
hides the value in every later step and job. Reading is lock-free: ``mask`` takes
the current compiled pattern in one attribute read; adding rebuilds it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

MASK = "***"


class Masker:
    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None
        for value in values:
            self.add(value)

    @property
    def active(self) -> bool:
        return self._pattern is not None

    def add(self, value: str) -> None:
        """Mask ``value`` and, for a multi-line value, each of its lines."""
        candidates = {value.strip()} | {line.strip() for line in value.splitlines()}
        # Blank values would mask every gap between characters.
        candidates = {c for c in candidates if c}
        with self._lock:
            if candidates <= self._values:
                return
            self._values |= candidates
            # Longest first so a secret that contains another is hidden whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def mask(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def mask_optional(self, text: str | None) -> str | None:
        return None if text is None else self.mask(text)

    def mask_values(self, values: dict[str, str]) -> dict[str, str]:
        if self._pattern is None:
            return dict(values)
        return {key: self.mask(value) for key, value in values.items()}
