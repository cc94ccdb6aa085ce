"""Roles and the ``role_required`` decorator the UI's views use."""

from __future__ import annotations

import asyncio

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from conveyor.server.accounts.models import Profile
from conveyor.server.accounts.permissions import (
    NO_ROLE,
    can_admin,
    can_trigger,
    can_view,
    has_role,
    role_of,
    role_required,
)

pytestmark = pytest.mark.django_db


def user(name: str, role: str | None = None, **flags: bool) -> User:
    made = User.objects.create_user(name, **flags)
    if role is not None:
        Profile.objects.create(user=made, role=role)
    return User.objects.get(pk=made.pk)  # fresh: no cached profile


@pytest.mark.parametrize(
    ("make", "role", "view", "trigger", "admin"),
    [
        (lambda: user("ada", "admin"), "admin", True, True, True),
        (lambda: user("root", "viewer", is_superuser=True), "admin", True, True, True),
        (lambda: user("max", "member"), "member", True, True, False),
        (lambda: user("vera", "viewer"), "viewer", True, False, False),
        (lambda: user("otto"), "viewer", True, False, False),  # no profile yet
        (lambda: user("gone", "admin", is_active=False), NO_ROLE, False, False, False),
        (lambda: AnonymousUser(), NO_ROLE, False, False, False),
        (lambda: None, NO_ROLE, False, False, False),
    ],
)
def test_roles(make: object, role: str, view: bool, trigger: bool, admin: bool) -> None:
    who = make()  # type: ignore[operator]
    assert role_of(who) == role
    assert (can_view(who), can_trigger(who), can_admin(who)) == (view, trigger, admin)


def test_changing_the_profile_changes_what_a_user_may_do() -> None:
    who = user("vera", "viewer")
    assert not can_trigger(who)
    Profile.objects.filter(user=who).update(role="member")
    assert can_trigger(User.objects.get(pk=who.pk))


def test_unknown_role_names_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown role 'owner'"):
        has_role(user("ada", "admin"), "owner")
    with pytest.raises(ValueError, match="unknown role 'owner'"):
        role_required("owner")


@role_required("member")
def cancel_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("cancelled")


@role_required("viewer")
async def live_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("streaming")


def request_as(who: object, path: str = "/repos/shop/runs/1/cancel") -> HttpRequest:
    request = RequestFactory().post(path)
    request.user = who  # type: ignore[attr-defined]

    async def auser() -> object:
        return who

    request.auser = auser  # type: ignore[attr-defined]
    return request


def test_role_required_lets_the_role_and_stronger_through() -> None:
    for who in (user("max", "member"), user("ada", "admin")):
        assert cancel_view(request_as(who)).content == b"cancelled"


def test_role_required_refuses_a_weaker_role_with_403_saying_why() -> None:
    with pytest.raises(
        PermissionDenied, match="needs the role member or admin; your role is viewer"
    ):
        cancel_view(request_as(user("vera", "viewer")))


def test_role_required_sends_anonymous_users_to_log_in() -> None:
    response = cancel_view(request_as(AnonymousUser()))
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/repos/shop/runs/1/cancel"


def test_role_required_works_on_async_views() -> None:
    viewer = user("vera", "viewer")
    response = asyncio.run(live_view(request_as(viewer, "/repos/shop/runs/1/events")))
    assert response.content == b"streaming"
    anonymous = asyncio.run(live_view(request_as(AnonymousUser(), "/repos/shop/runs/1/events")))
    assert anonymous.status_code == 302


def test_the_decorator_keeps_the_views_name() -> None:
    assert cancel_view.__name__ == "cancel_view"
    assert asyncio.iscoroutinefunction(live_view)
