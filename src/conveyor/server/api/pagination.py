"""Keyset pagination of runs: a cursor is the number of the last run seen, opaque to
callers, so a page costs the same at run 100,000 as at run 1 (the index on
(repository, -number) does the work)."""

from __future__ import annotations

import base64
import binascii

from conveyor.server.api.errors import bad_input

_PREFIX = "before:"


def encode_cursor(number: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{number}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The run number a cursor stands for; a 400 naming ``cursor`` if it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        if not text.startswith(_PREFIX):
            raise ValueError(text)
        number = int(text[len(_PREFIX) :])
        if number < 1:
            raise ValueError(text)
        return number
    except (ValueError, UnicodeError, binascii.Error):
        raise bad_input(
            "cursor", "not a cursor this API gave out (use next_cursor of a previous page)"
        ) from None
