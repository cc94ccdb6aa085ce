"""Secret masking: every registered value is replaced by ``***`` wherever the run shows text.

One ``Masker`` is shared by all jobs of a run, so an ``::add-mask::`` in one step
hides the value in every later step and job. Reading is lock-free: ``mask`` takes
the current compiled pattern in one attribute read; adding rebuilds it.

A value is hidden in the forms a step can print it in without meaning to reveal
it, the ones GitHub's runner masks: as it is, base64-encoded (at each of the
three byte offsets it can have inside a longer encoded text), URL-encoded and
JSON-escaped. A multi-line value is also hidden line by line, each line in those
forms too.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable

MASK = "***"
# An encoded form shorter than this would hide ordinary text all over the log
# (two base64 characters match almost anywhere); the plain value is always hidden.
MIN_ENCODED_LENGTH = 4


def encoded_forms(value: str) -> set[str]:
    """The texts that reveal ``value``: itself and its base64, URL and JSON encodings."""
    from urllib.parse import quote  # only once there is something to mask

    forms = {value, quote(value, safe=""), json.dumps(value)[1:-1]}
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    forms |= _base64_forms(value.encode())
    return {form for form in forms if form == value or len(form) >= MIN_ENCODED_LENGTH}


def _base64_forms(data: bytes) -> set[str]:
    """``data``'s base64 as printed alone (with padding), and the part of its encoding
    that is the same whatever bytes come before or after it, for each offset modulo 3
    at which ``data`` can start inside a longer encoded text."""
    import base64  # only once there is something to mask

    forms = {base64.b64encode(data).decode()}
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data).decode()
        total_bits = 8 * (offset + len(data))
        # Character i carries bits 6i..6i+5; keep those made of ``data``'s bits only.
        first = -(-8 * offset // 6)
        last = total_bits // 6
        forms.add(encoded[first:last])
    return forms


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
        """Mask ``value`` and, for a multi-line value, each of its lines, in every form."""
        candidates = {value.strip()} | {line.strip() for line in value.splitlines()}
        # Blank values would mask every gap between characters.
        candidates = {c for c in candidates if c}
        forms: set[str] = set()
        for candidate in candidates:
            forms |= encoded_forms(candidate)
        with self._lock:
            if forms <= self._values:
                return
            self._values |= forms
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
