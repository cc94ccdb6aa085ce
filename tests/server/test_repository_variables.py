"""Repository variables (the ``vars`` context) through the API: admins set and delete
them, members list them with their values (they are not secrets)."""

from __future__ import annotations

import pytest

from conveyor.server.repos.models import Variable
from tests.server.test_api_helpers import Api, cast

pytestmark = pytest.mark.django_db


def test_variables_are_set_listed_and_deleted_by_the_right_roles(repository):
    people = cast()
    admin, member, viewer = (Api(people[who]) for who in ("admin", "member", "viewer"))
    assert member.put("repositories/shop/variables/REGION", {"value": "x"}).status_code == 403
    created = admin.put("repositories/shop/variables/REGION", {"value": "eu-west-1"})
    assert created.status_code == 201, created.content
    replaced = admin.put("repositories/shop/variables/REGION", {"value": "us-east-2"})
    assert replaced.status_code == 200
    listed = member.get("repositories/shop/variables").json()
    assert [(item["name"], item["value"]) for item in listed] == [("REGION", "us-east-2")]
    assert viewer.get("repositories/shop/variables").status_code == 403
    bad = admin.put("repositories/shop/variables/GITHUB_REGION", {"value": "x"})
    assert bad.status_code == 400 and bad.json()["field"] == "variable_name"
    assert admin.delete("repositories/shop/variables/REGION").status_code == 204
    assert admin.delete("repositories/shop/variables/REGION").status_code == 404
    assert not Variable.objects.exists()
