"""One limit on wrong passwords for the login form and the API's HTTP Basic: after
``FAILURES_ALLOWED`` of them the name is locked, the right password refused too."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from conveyor.server.accounts.login_limit import FAILURES_ALLOWED
from tests.server.test_api_helpers import Person, cast

pytestmark = pytest.mark.django_db

RIGHT = "right-password-123"


@pytest.fixture
def people(settings: Any) -> Iterator[dict[str, Person]]:
    cache.clear()  # the counts live in the cache
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    everyone = cast()
    for person in everyone.values():
        if person.user is None:
            continue
        person.user.set_password(RIGHT)
        person.user.save()
    yield everyone
    cache.clear()


@pytest.fixture
def max_user(people: dict[str, Person]) -> Person:
    return people["member"]


def form_login(client: Client, username: str, password: str) -> Any:
    return client.post("/login/", {"username": username, "password": password})


def basic(username: str, password: str) -> Any:
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    return Client().post(
        "/api/tokens",
        {"name": "probe"},
        content_type="application/json",
        headers={"Authorization": f"Basic {credentials}"},
    )


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_it_locks_the_form_after_too_many_wrong_passwords(max_user: Person) -> None:
    name = max_user.user.username
    client = Client()
    for attempt in range(FAILURES_ALLOWED):
        wrong = form_login(client, name, f"guess-{attempt}")
        assert wrong.status_code == 200
        assert b"did not match" in wrong.content
    refused = form_login(client, name, RIGHT)
    assert refused.status_code == 200  # the form again, not the redirect of a login
    page = refused.content.decode()
    assert "Too many wrong passwords for this user name" in page
    assert "locked for 5 minutes" in page
    assert not logged_in(client)
    # The same policy guards the API: the form's failures lock it too.
    assert basic(name, RIGHT).status_code == 429
    cache.clear()  # the lockout has passed
    accepted = form_login(client, name, RIGHT)
    assert accepted.status_code == 302 and logged_in(client)


def test_the_apis_wrong_passwords_lock_the_form(
    people: dict[str, Person], max_user: Person
) -> None:
    name = max_user.user.username
    for attempt in range(FAILURES_ALLOWED):
        assert basic(name, f"guess-{attempt}").status_code == 401
    locked = basic(name, RIGHT)
    assert locked.status_code == 429
    detail = locked.json()["detail"]
    assert detail == f"too many wrong passwords for {name!r}: try again in 5 minutes"
    client = Client()
    refused = form_login(client, name, RIGHT)
    assert b"locked for 5 minutes" in refused.content and not logged_in(client)
    # Another name is not affected.
    assert form_login(Client(), people["viewer"].user.username, RIGHT).status_code == 302


def test_a_right_password_before_the_limit_starts_the_count_again(max_user: Person) -> None:
    name = max_user.user.username
    for attempt in range(FAILURES_ALLOWED - 1):
        form_login(Client(), name, f"guess-{attempt}")
    assert form_login(Client(), name, RIGHT).status_code == 302
    for attempt in range(FAILURES_ALLOWED - 1):
        form_login(Client(), name, f"again-{attempt}")
    assert form_login(Client(), name, RIGHT).status_code == 302


def test_the_admin_login_is_under_the_same_limit(people: dict[str, Person]) -> None:
    root = people["superuser"].user
    root.is_staff = True  # the admin site lets in staff only
    root.save()
    name = root.username
    for attempt in range(FAILURES_ALLOWED):
        assert basic(name, f"guess-{attempt}").status_code == 401
    client = Client()
    refused = client.post("/admin/login/", {"username": name, "password": RIGHT})
    assert refused.status_code == 200 and not logged_in(client)
    cache.clear()
    accepted = client.post("/admin/login/", {"username": name, "password": RIGHT})
    assert accepted.status_code == 302 and logged_in(client)
