"""The health watch inside ``conveyor server`` (a real subprocess): an admin sets an
environment's health URL through the API, as docs/monitoring.md says, and the server's
own watch checks it, opens an incident when it fails and resolves it when it answers."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.server.conftest import GitProject, start_server, wait_for
from tests.server.monitoring_support import FlippingApp
from tests.server.test_api_http import call

pytestmark = pytest.mark.slow


def test_the_server_watches_an_environment_set_through_the_api(
    tmp_path: Path, git_project: GitProject
) -> None:
    git_project.commit({"README": "shop"}, "start")
    git_project.push()
    data = tmp_path / "server-data"
    data.mkdir()
    app = FlippingApp()
    server = start_server(data, workers=0)
    try:
        api = f"{server.url}/api"
        basic = base64.b64encode(b"admin:test-password-123").decode()
        _, token = call(f"{api}/tokens", "POST", {"name": "t"}, Authorization=f"Basic {basic}")
        auth = {"Authorization": f"Bearer {token['token']}"}
        body = {"name": "shop", "url": str(git_project.bare)}
        assert call(f"{api}/repositories", "POST", body, **auth)[0] == 201
        environment = f"{api}/repositories/shop/environments/production"
        assert call(environment, "PUT", {"required_approval": False}, **auth)[0] == 201
        settings = {"health_url": app.url, "auto_rollback": False}
        status, health = call(f"{environment}/health", "PUT", settings, **auth)
        assert status == 200 and health["url"] == app.url and health["watching"]

        def health() -> dict:
            return call(f"{environment}/health", **auth)[1]

        def incidents() -> list:
            return call(f"{environment}/incidents", **auth)[1]

        # Saving the settings checks at once (the default interval is a minute).
        wait_for(lambda: health()["state"] == "up", what="up")
        app.flip(500, "maintenance")
        call(f"{environment}/health", "PUT", settings, **auth)
        down = wait_for(incidents, what="an incident")
        assert down[0]["reason"] == "HTTP 500 Internal Server Error: maintenance"
        assert down[0]["resolved_at"] is None
        assert health()["state"] == "down" and health()["open_incident"] == down[0]["id"]

        app.flip(200, "ok")
        call(f"{environment}/health", "PUT", settings, **auth)
        wait_for(lambda: incidents()[0]["resolved_at"], what="the resolution")
        [resolved] = incidents()
        assert resolved["id"] == down[0]["id"] and resolved["duration_seconds"] > 0
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)
        app.stop()
    assert "Traceback" not in server.output()
