"""The OpenAPI document: valid OpenAPI, every endpoint in it, served with the docs."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

from tests.server.test_api_helpers import Person, person

pytestmark = pytest.mark.django_db

DEPLOYMENT = "/api/repositories/{name}/environments/{environment}/deployments/{deployment_id}"
EXPECTED = {
    ("get", "/api/me"),
    ("get", "/api/tokens"),
    ("post", "/api/tokens"),
    ("delete", "/api/tokens/{token_id}"),
    ("get", "/api/repositories"),
    ("post", "/api/repositories"),
    ("get", "/api/repositories/{name}"),
    ("patch", "/api/repositories/{name}"),
    ("get", "/api/repositories/{name}/runs"),
    ("post", "/api/repositories/{name}/runs"),
    ("get", "/api/repositories/{name}/runs/{number}"),
    ("post", "/api/repositories/{name}/runs/{number}/approve"),
    ("post", "/api/repositories/{name}/runs/{number}/cancel"),
    ("post", "/api/repositories/{name}/runs/{number}/rerun"),
    ("get", "/api/repositories/{name}/runs/{number}/jobs"),
    ("get", "/api/repositories/{name}/runs/{number}/jobs/{job}"),
    ("get", "/api/repositories/{name}/runs/{number}/jobs/{job}/steps/{index}"),
    ("get", "/api/repositories/{name}/runs/{number}/jobs/{job}/steps/{index}/log"),
    ("get", "/api/repositories/{name}/runs/{number}/jobs/{job}/steps/{index}/log.txt"),
    ("get", "/api/repositories/{name}/runs/{number}/artifacts"),
    ("get", "/api/repositories/{name}/runs/{number}/artifacts/{artifact}"),
    ("get", "/api/repositories/{name}/secrets"),
    ("get", "/api/repositories/{name}/workflows"),
    ("put", "/api/repositories/{name}/secrets/{secret_name}"),
    ("delete", "/api/repositories/{name}/secrets/{secret_name}"),
    ("get", "/api/repositories/{name}/variables"),
    ("put", "/api/repositories/{name}/variables/{variable_name}"),
    ("delete", "/api/repositories/{name}/variables/{variable_name}"),
    ("get", "/api/repositories/{name}/dora"),
    ("get", "/api/repositories/{name}/environments"),
    ("put", "/api/repositories/{name}/environments/{environment}"),
    ("delete", "/api/repositories/{name}/environments/{environment}"),
    ("get", "/api/repositories/{name}/environments/{environment}/deployments"),
    ("post", f"{DEPLOYMENT}/approve"),
    ("post", f"{DEPLOYMENT}/reject"),
    ("get", "/api/repositories/{name}/environments/{environment}/secrets"),
    ("put", "/api/repositories/{name}/environments/{environment}/secrets/{secret_name}"),
    ("delete", "/api/repositories/{name}/environments/{environment}/secrets/{secret_name}"),
    ("get", "/api/repositories/{name}/environments/{environment}/variables"),
    ("put", "/api/repositories/{name}/environments/{environment}/variables/{variable_name}"),
    ("delete", "/api/repositories/{name}/environments/{environment}/variables/{variable_name}"),
    ("get", "/api/repositories/{name}/environments/{environment}/health"),
    ("put", "/api/repositories/{name}/environments/{environment}/health"),
    ("get", "/api/repositories/{name}/environments/{environment}/incidents"),
    ("post", "/api/repositories/{name}/environments/{environment}/rollback"),
    ("get", "/api/repositories/{name}/services"),
    ("put", "/api/repositories/{name}/services/{service_name}"),
    ("delete", "/api/repositories/{name}/services/{service_name}"),
    ("get", "/api/repositories/{name}/notifications/channels"),
    ("put", "/api/repositories/{name}/notifications/channels/{channel}"),
    ("delete", "/api/repositories/{name}/notifications/channels/{channel}"),
    ("get", "/api/repositories/{name}/notifications/deliveries"),
    ("get", "/api/repositories/{name}/commit-status"),
    ("put", "/api/repositories/{name}/commit-status"),
    ("delete", "/api/repositories/{name}/commit-status"),
    ("get", "/api/workers"),
}


@pytest.fixture
def viewer() -> Person:
    return person("vera", "viewer")


@pytest.fixture
def document(viewer: Person) -> dict:
    response = Client().get("/api/openapi.json", headers=viewer.headers())
    assert response.status_code == 200
    return response.json()


def test_the_document_and_docs_need_a_user(viewer: Person) -> None:
    anonymous = Client().get("/api/openapi.json")
    assert anonymous.status_code == 401
    assert "Authorization: Bearer" in anonymous.json()["detail"]
    revoked = Client().get("/api/openapi.json", headers={"Authorization": "Bearer cvy_gone"})
    assert revoked.status_code == 401
    browser = Client().get("/api/docs", headers={"Accept": "text/html"})
    assert browser.status_code == 302 and browser["Location"] == "/login/?next=/api/docs"
    session = Client()
    session.force_login(viewer.user)
    assert session.get("/api/openapi.json").status_code == 200


def test_the_document_is_valid_openapi(document: dict) -> None:
    validate(document)
    assert document["info"]["title"] == "Conveyor API"


def test_it_lists_every_endpoint(document: dict) -> None:
    listed = {
        (method, path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert listed == EXPECTED


def _api_routes() -> set[str]:
    """Every URL pattern Django routes under /api/, in OpenAPI's {name} spelling."""
    routes: set[str] = set()

    def walk(patterns: list, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                routes.add(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns, "/")
    api = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route) for route in routes if route.startswith("/api/")
    }
    # The document, its docs page, ninja's root view and the JSON 404 are not operations.
    return {route for route in api if "^" not in route} - {
        "/api/openapi.json",
        "/api/docs",
        "/api/",
    }


def test_every_routed_api_url_is_documented(document: dict) -> None:
    assert _api_routes() == set(document["paths"])


def test_each_operation_says_how_it_fails_and_needs_authentication(document: dict) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["BearerTokenAuth"] == {"type": "http", "scheme": "bearer"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("security"), f"{method} {path} has no security"
            assert operation.get("summary"), f"{method} {path} has no summary"


def test_the_docs_page_is_served(viewer: Person) -> None:
    client = Client()
    client.force_login(viewer.user)
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert b"/api/openapi.json" in response.content
    # The docs' JavaScript comes from this server, not from a CDN: it works offline.
    page = response.content.decode()
    assert "cdn." not in page
    script = re.search(r'src="(/static/ninja/swagger-ui-bundle[^"]*)"', page)
    assert script is not None, page
    static = client.get(script.group(1))
    static.close()  # a file response: let go of the file
    assert static.status_code == 200
