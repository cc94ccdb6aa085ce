"""Helpers (no tests) for the API tests: a cast of users — admin, a superuser without a
profile, member, viewer, outsider (a user with no profile) and anonymous; each but
anonymous with an API token issued the real way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from conveyor.server.accounts.models import ApiToken, Profile


@dataclass
class Person:
    user: User | None
    token: str | None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def person(username: str, role: str | None, *, superuser: bool = False) -> Person:
    user = User.objects.create_user(username, f"{username}@example.com", is_superuser=superuser)
    user.set_unusable_password()  # password hashing is slow; tokens are what the API uses
    user.save()
    if role is not None:
        Profile.objects.create(user=user, role=role)
    _, plain_text = ApiToken.issue(user, f"{username}'s token")
    return Person(user, plain_text)


def cast() -> dict[str, Person]:
    return {
        "admin": person("ada", "admin"),
        "superuser": person("root", None, superuser=True),
        "member": person("max", "member"),
        "viewer": person("vera", "viewer"),
        "outsider": person("otto", None),
        "anonymous": Person(None, None),
    }


class Api:
    """Django's test client speaking JSON to /api/ as one person."""

    def __init__(self, who: Person, client: Client | None = None) -> None:
        self.who = who
        self.client = client or Client()

    def get(self, path: str, **query: Any) -> Any:
        return self.client.get(f"/api/{path}", query, headers=self.who.headers())

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(
            f"/api/{path}", body or {}, content_type="application/json", headers=self.who.headers()
        )

    def put(self, path: str, body: Any) -> Any:
        return self.client.put(
            f"/api/{path}", body, content_type="application/json", headers=self.who.headers()
        )

    def delete(self, path: str) -> Any:
        return self.client.delete(f"/api/{path}", headers=self.who.headers())
