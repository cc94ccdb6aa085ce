"""Who may do what: roles (admin > member > viewer) and a decorator for Django views.

A viewer sees everything; a member may also trigger, cancel and re-run runs; an
admin may also add repositories and manage their secrets. Anonymous and inactive
users have no role at all (``NO_ROLE``). Superusers are admins whatever their
profile says.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import HttpRequest, HttpResponseBase

from conveyor.server.accounts.models import Role

NO_ROLE = ""
ROLES = (Role.VIEWER.value, Role.MEMBER.value, Role.ADMIN.value)  # weakest first
_RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}

View = TypeVar("View", bound=Callable[..., Any])


def role_of(user: Any) -> str:
    """``"admin"``, ``"member"`` or ``"viewer"``; ``NO_ROLE`` for anonymous or inactive users."""
    if user is None or not getattr(user, "is_authenticated", False):
        return NO_ROLE
    if not getattr(user, "is_active", False):
        return NO_ROLE
    if getattr(user, "is_superuser", False):
        return Role.ADMIN.value
    try:
        profile = user.profile
    except ObjectDoesNotExist:  # no profile row yet: the least a logged-in user can be
        return Role.VIEWER.value
    return profile.role if profile.role in _RANK else Role.VIEWER.value


def has_role(user: Any, needed: str) -> bool:
    """Whether ``user``'s role is ``needed`` or stronger."""
    if needed not in _RANK:
        raise ValueError(f"unknown role {needed!r} (roles: {', '.join(ROLES)})")
    return _RANK.get(role_of(user), 0) >= _RANK[needed]


def can_view(user: Any) -> bool:
    return has_role(user, Role.VIEWER.value)


def can_trigger(user: Any) -> bool:
    """Trigger, cancel and re-run runs."""
    return has_role(user, Role.MEMBER.value)


def can_admin(user: Any) -> bool:
    """Add repositories, manage secrets."""
    return has_role(user, Role.ADMIN.value)


def roles_at_least(needed: str) -> str:
    """``"member or admin"`` for ``"member"``: the roles that may do a thing, for messages."""
    names = [role for role in ROLES if _RANK[role] >= _RANK[needed]]
    return " or ".join(names)


def refusal(user: Any, needed: str) -> str:
    """Why ``user`` may not do a thing that needs ``needed``, in a sentence."""
    current = role_of(user) or "none"
    return f"this needs the role {roles_at_least(needed)}; your role is {current}"


def role_required(needed: str) -> Callable[[View], View]:
    """Decorator for Django views (sync or async): anonymous users are sent to the login
    page, logged-in users without the role get 403."""
    if needed not in _RANK:
        raise ValueError(f"unknown role {needed!r} (roles: {', '.join(ROLES)})")

    def decorate(view: View) -> View:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_checked(
                request: HttpRequest, *args: Any, **kwargs: Any
            ) -> HttpResponseBase:
                user = await request.auser()
                denied = await _adenied(request, user, needed)
                if denied is not None:
                    return denied
                return await view(request, *args, **kwargs)

            return async_checked  # type: ignore[return-value]

        @functools.wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            denied = _denied(request, request.user, needed)
            if denied is not None:
                return denied
            return view(request, *args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate


def _denied(request: HttpRequest, user: Any, needed: str) -> HttpResponseBase | None:
    if not getattr(user, "is_authenticated", False):
        return redirect_to_login(request.get_full_path())
    if not has_role(user, needed):
        raise PermissionDenied(refusal(user, needed))
    return None


async def _adenied(request: HttpRequest, user: Any, needed: str) -> HttpResponseBase | None:
    from asgiref.sync import sync_to_async

    # The profile is a lazy relation: reading it touches the database.
    return await sync_to_async(_denied)(request, user, needed)
