"""API authentication: personal tokens (``Authorization: Bearer <token>``), the
browser's session, and a password (HTTP Basic) only for issuing a token.

Tokens are stored as their sha256 (``ApiToken.token_hash``); the plain text is
shown once when issued. A token of a deactivated user, or a revoked (deleted)
token, is refused with 401.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils import timezone
from ninja.errors import AuthenticationError, HttpError
from ninja.security import HttpBasicAuth, HttpBearer, SessionAuth

from conveyor.server.accounts import login_limit
from conveyor.server.accounts.models import ApiToken, hash_token

# last_used_at is for people deciding which tokens to revoke: a minute is precise
# enough, and it spares a database write on every request of a busy script.
LAST_USED_PRECISION = timedelta(seconds=60)

BEARER_HINT = "send 'Authorization: Bearer <token>' (see /api/docs)"


def token_for(plain_text: str) -> ApiToken | None:
    """The live token with this plain text (its user active), ``last_used_at`` refreshed."""
    if not plain_text:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=hash_token(plain_text.strip()))
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    # Decided here, not by an UPDATE's WHERE: even an UPDATE that changes nothing
    # takes SQLite's write lock, which the workers writing logs need.
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


class BearerTokenAuth(HttpBearer):
    """``Authorization: Bearer <token>``; a token that is sent but unknown is a 401 at
    once (never a silent fall-back to the session)."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = token_for(token)
        if found is None:
            raise AuthenticationError(401, "the API token is invalid or was revoked")
        request.user = found.user
        request.api_token = found  # type: ignore[attr-defined]
        return found.user


class SessionUserAuth(SessionAuth):
    """The logged-in browser session (with Django's CSRF check on unsafe methods)."""

    def __call__(self, request: HttpRequest) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            # No session to forge a request with, so no CSRF question: the caller
            # lacks credentials, and hearing 401 (not "CSRF check failed") says so.
            return None
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            return user
        return None


class PasswordAuth(HttpBasicAuth):
    """Username and password (HTTP Basic), accepted only to issue a token. Wrong
    passwords count against the one limit the login form has too (``login_limit``)."""

    def authenticate(self, request: HttpRequest, username: str, password: str) -> Any:
        wait = login_limit.locked_for(username)
        if wait:
            raise HttpError(
                429,
                f"too many wrong passwords for {username!r}: "
                f"try again in {login_limit.wait_text(wait)}",
            )
        user = authenticate(request, username=username, password=password)
        if user is None:
            raise AuthenticationError(401, "wrong username or password")
        request.user = user
        return user


class NoTokenForTokens:
    """Refuses, with a clear message, a bearer token where a password is needed: a
    leaked token must not be able to mint tokens that outlive its revocation."""

    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            raise AuthenticationError(
                401,
                "an API token cannot issue tokens: use your username and password "
                "(HTTP Basic, curl -u) or a logged-in session",
            )
        return None


def read_auth() -> list[Any]:
    """The ways in for every API call: a token, else the session."""
    return [BearerTokenAuth(), SessionUserAuth()]


def issue_auth() -> list[Any]:
    """The ways in for issuing a token: a password or the session, never a token."""
    return [NoTokenForTokens(), PasswordAuth(), SessionUserAuth()]
