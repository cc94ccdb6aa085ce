"""Secrets at rest: Fernet tokens under ``settings.ENCRYPTION_KEYS`` (newest key first).

MultiFernet encrypts with the first key and decrypts with any of them, so a key is
rotated by putting a new one in front; ``rotate`` re-encrypts a token under it.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """A stored secret none of the configured keys can decrypt."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode("ascii")) for key in keys])
    except (ValueError, UnicodeEncodeError):
        raise SecretUnreadable(
            "CONVEYOR_ENCRYPTION_KEYS: each key must be a Fernet key "
            "(32 url-safe base64-encoded bytes)"
        ) from None


def _current() -> MultiFernet:
    return _fernet(tuple(settings.ENCRYPTION_KEYS))


def encrypt(plain_text: str) -> str:
    return _current().encrypt(plain_text.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise SecretUnreadable(
            "a secret cannot be decrypted with the configured CONVEYOR_ENCRYPTION_KEYS "
            "(was the key that encrypted it removed?)"
        ) from None


def rotate(token: str) -> str:
    return _current().rotate(token.encode("ascii")).decode("ascii")
