"""One limit on password guessing for every place a password is checked: the login
form, the admin's login and the API's HTTP Basic (to issue a token).

All of them call Django's ``authenticate()``, whose only backend is
``LimitedModelBackend``: after ``FAILURES_ALLOWED`` wrong passwords for one user name
within ``FAILURE_WINDOW`` seconds, that name is locked for ``LOCKOUT_SECONDS``, and
while it is locked even the right password is refused. The form and the API ask
``locked_for`` first, to say so and for how long.

Counted per user name, not per address: guesses spread over many addresses are
still stopped. The price is that anyone can lock a name out for a few minutes;
API tokens keep working meanwhile.

Why not django-axes: it would bring its own models, middleware and lockout pages
for what is a counter per name. The counter lives in Django's cache, in the
server's memory, which is the whole truth because one server process owns a data
directory (``server.lock``); a restart forgets it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from conveyor.server.accounts.models import hash_token

FAILURES_ALLOWED = 10
FAILURE_WINDOW = 300  # seconds in which the failures are counted
LOCKOUT_SECONDS = 300

# The cache's get-then-set is not atomic; a guesser sending requests in parallel
# must not slip failures past the count.
_lock = threading.Lock()


def _key(username: str) -> str:
    # Hashed: the cache key must not hold whatever a guesser typed.
    return "conveyor:login-failures:" + hash_token(username.strip().lower())


def locked_for(username: str) -> int:
    """Seconds until ``username`` may try a password again; 0 when it may now."""
    state = cache.get(_key(username))
    if not state:
        return 0
    left = state.get("locked_until", 0) - time.time()
    return max(0, int(left + 0.999))


def record_failure(username: str) -> None:
    now = time.time()
    key = _key(username)
    with _lock:
        state = cache.get(key)
        lockout_over = bool(state) and 0 < state["locked_until"] <= now
        if not state or lockout_over or now - state["since"] > FAILURE_WINDOW:
            state = {"failures": 0, "since": now, "locked_until": 0}
        state["failures"] += 1
        if state["failures"] >= FAILURES_ALLOWED:
            state["locked_until"] = now + LOCKOUT_SECONDS
        cache.set(key, state, FAILURE_WINDOW + LOCKOUT_SECONDS)


def clear(username: str) -> None:
    cache.delete(_key(username))


def wait_text(seconds: int) -> str:
    """``5 minutes``, ``1 minute``, ``40 seconds``: how long a lockout still lasts."""
    if seconds >= 60:
        minutes = -(-seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


class LimitedModelBackend(ModelBackend):
    """Django's user-and-password check, refusing a locked-out name and counting failures."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        if locked_for(username):
            # Ends authenticate() at once: no other backend gets to say yes.
            raise PermissionDenied("too many wrong passwords")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            record_failure(username)
        else:
            clear(username)
        return user
