"""A POST without credentials is told to authenticate (401, JSON), not refused for CSRF."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from conveyor.server.repos.models import Repository
from tests.server.test_api_helpers import Person, cast

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> dict[str, Person]:
    return cast()


def post(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, body, content_type="application/json")


def test_it_answers_401_to_an_anonymous_post(people: dict[str, Person]) -> None:
    Repository.objects.create(name="shop", url="/nonexistent/shop.git")
    anonymous = Client(enforce_csrf_checks=True)
    for path, body in [
        ("/api/repositories", {"name": "x", "url": "/nowhere.git"}),
        ("/api/repositories/shop/runs", {"workflow": "ci.yml", "ref": "main"}),
        ("/api/tokens", {"name": "laptop"}),
    ]:
        response = post(anonymous, path, body)
        assert response.status_code == 401, (path, response.content)
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["detail"].startswith("authentication required")
        assert "WWW-Authenticate" in response
    assert list(Repository.objects.values_list("name", flat=True)) == ["shop"]


def test_it_still_checks_csrf_for_a_logged_in_session(people: dict[str, Person]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["admin"].user)
    refused = post(client, "/api/repositories", {"name": "x", "url": "/nowhere.git"})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
