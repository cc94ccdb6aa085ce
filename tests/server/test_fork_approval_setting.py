"""The per-repository setting "require approval for pull requests from forks": on by
default, changed by an admin through the API (``PATCH``) or the admin pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from conveyor.server.repos.models import Repository
from tests.server.test_api_helpers import Api, cast

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> dict[str, Any]:
    return cast()


def test_it_is_on_by_default_and_an_admin_turns_it_off_through_the_api(repository, people):
    viewer = Api(people["viewer"])
    assert viewer.get("repositories/shop").json()["require_fork_approval"] is True
    member = Api(people["member"]).client.patch(
        "/api/repositories/shop",
        {"require_fork_approval": False},
        content_type="application/json",
        headers=people["member"].headers(),
    )
    assert member.status_code == 403
    admin = Api(people["admin"])
    response = admin.client.patch(
        "/api/repositories/shop",
        {"require_fork_approval": False},
        content_type="application/json",
        headers=people["admin"].headers(),
    )
    assert response.status_code == 200, response.content
    assert response.json()["require_fork_approval"] is False
    stored = Repository.objects.get(name="shop")
    # Only what was sent changed.
    assert (stored.require_fork_approval, stored.default_branch) == (False, "main")
    assert viewer.get("repositories/shop").json()["require_fork_approval"] is False
    bad = admin.client.patch(
        "/api/repositories/shop",
        {"poll_interval": 3},
        content_type="application/json",
        headers=people["admin"].headers(),
    )
    assert bad.status_code == 400 and bad.json()["field"] == "poll_interval"


def test_a_repository_added_through_the_api_may_start_without_it(git_project, data_dir, people):
    admin = Api(people["admin"])
    response = admin.post(
        "repositories",
        {"name": "shop", "url": str(git_project.bare), "require_fork_approval": False},
    )
    assert response.status_code == 201, response.content
    assert response.json()["require_fork_approval"] is False
    assert Repository.objects.get(name="shop").require_fork_approval is False


def test_an_admin_changes_it_in_the_admin_pages(repository):
    from tests.server.test_ui_support import make_user

    make_user("boss", None, superuser=True)
    client = Client()
    assert client.login(username="boss", password="a-long-test-password")
    url = f"/admin/repos/repository/{repository.pk}/change/"
    page = client.get(url).content.decode()
    assert "Require approval for pull requests from forks" in page
    form = {
        "name": repository.name,
        "url": repository.url,
        "default_branch": "main",
        "webhook_secret": repository.webhook_secret,
        "poll_interval": "",
        # an unticked checkbox is simply not sent
        "secrets-TOTAL_FORMS": "0",
        "secrets-INITIAL_FORMS": "0",
        "variables-TOTAL_FORMS": "1",
        "variables-INITIAL_FORMS": "0",
        "variables-0-name": "REGION",
        "variables-0-value": "eu-west-1",
        "service_mappings-TOTAL_FORMS": "1",
        "service_mappings-INITIAL_FORMS": "0",
        "service_mappings-0-name": "postgres",
        "service_mappings-0-address": "127.0.0.1:5432",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    stored = Repository.objects.get(pk=repository.pk)
    assert stored.require_fork_approval is False
    assert list(stored.variables.values_list("name", "value")) == [("REGION", "eu-west-1")]
    mappings = stored.service_mappings.values_list("name", "address")
    assert list(mappings) == [("postgres", "127.0.0.1:5432")]
