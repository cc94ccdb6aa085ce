"""The API over real HTTP: ``conveyor server`` as a subprocess (uvicorn, ASGI), driven
the way docs/api.md tells a user to: a token from the password, a repository added,
a run triggered, its log streamed."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import GitProject, start_server

pytestmark = pytest.mark.slow

WORKFLOW = """\
name: Hello
on:
  workflow_dispatch:
    inputs:
      who:
        required: true
steps:
  - name: Greet
    run: |
      for i in $(seq 1 3000); do echo "hello ${{ inputs.who }} $i"; done
"""


def call(url: str, method: str = "GET", body: Any = None, **headers: str) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            raw = response.read()
            kind = response.headers.get("Content-Type", "")
            return response.status, json.loads(raw) if "json" in kind else raw.decode()
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def admin_with_repository(server_url: str, bare: Path) -> tuple[str, dict[str, str]]:
    """A token of the admin the server made, and the repository ``shop`` at ``bare``
    added with it: (the API's URL, the auth header)."""
    api = f"{server_url}/api"
    basic = base64.b64encode(b"admin:test-password-123").decode()
    _, token = call(f"{api}/tokens", "POST", {"name": "t"}, Authorization=f"Basic {basic}")
    auth = {"Authorization": f"Bearer {token['token']}"}
    status, added = call(f"{api}/repositories", "POST", {"name": "shop", "url": str(bare)}, **auth)
    assert status == 201, added
    return api, auth


def test_the_documented_curl_story_over_http(tmp_path: Path, git_project: GitProject) -> None:
    git_project.commit({".conveyor.yml": WORKFLOW}, "Add hello")
    git_project.push()
    data = tmp_path / "server-data"
    data.mkdir()
    server = start_server(data, workers=1)
    try:
        api = f"{server.url}/api"
        basic = base64.b64encode(b"admin:test-password-123").decode()
        status, created = call(
            f"{api}/tokens", "POST", {"name": "laptop"}, Authorization=f"Basic {basic}"
        )
        assert status == 201, created
        auth = {"Authorization": f"Bearer {created['token']}"}

        status, body = call(f"{api}/repositories")
        assert (status, body["detail"].split(":")[0]) == (401, "authentication required")
        status, repo = call(
            f"{api}/repositories", "POST", {"name": "shop", "url": str(git_project.bare)}, **auth
        )
        assert status == 201, repo
        status, triggered = call(
            f"{api}/repositories/shop/runs",
            "POST",
            {"workflow": ".conveyor.yml", "inputs": {"who": "world"}},
            **auth,
        )
        assert status == 201, triggered
        number = triggered["runs"][0]["number"]

        deadline = time.monotonic() + 20
        while True:
            status, run = call(f"{api}/repositories/shop/runs/{number}", **auth)
            if run["status"] not in ("queued", "running"):
                break
            assert time.monotonic() < deadline, run
            time.sleep(0.1)
        assert run["status"] == "success", run["reason"]
        step = run["jobs"][0]["steps"][0]
        assert step["log_lines"] == 3000
        path = step["log_download_url"].split("/api/", 1)[1]
        status, text = call(f"{api}/{path}", **auth)
        assert status == 200
        assert text.splitlines() == [f"hello world {i}" for i in range(1, 3001)]
        page_path = step["log_url"].split("/api/", 1)[1]
        status, page = call(f"{api}/{page_path}?start=2999&limit=5", **auth)
        assert [line["text"] for line in page["lines"]] == ["hello world 2999", "hello world 3000"]
        # Streamed as it is read: Django did not gather a synchronous iterator into memory.
        assert "must consume synchronous iterators" not in server.output()
    finally:
        server.process.terminate()
        server.process.wait(timeout=15)
