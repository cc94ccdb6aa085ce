"""Artifacts on a real server over real HTTP: a run (sandboxed jobs) uploads in one job
and downloads in the next; the API lists and downloads them (zip and tar.gz), the run's
page links them, and they go when the run is deleted."""

from __future__ import annotations

import base64
import http.cookiejar
import io
import json
import re
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import GitProject, start_server

pytestmark = pytest.mark.slow

WORKFLOW = """\
name: Build
on: workflow_dispatch
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: mkdir -p dist/docs && echo wheel > dist/pkg.whl && echo guide > dist/docs/guide.txt
      - id: up
        uses: actions/upload-artifact@v4
        with:
          name: dist files
          path: dist/
      - run: echo "url=${{ steps.up.outputs.artifact-url }}"
  check:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: dist files
          path: got
      - run: test "$(cat got/pkg.whl)" = wheel && test -f got/docs/guide.txt
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.sha }}
          path: second-copy
      - run: test -f second-copy/.conveyor.yml
"""


def call(url: str, **headers: str) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def post_json(url: str, body: Any, **headers: str) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers=headers
    )
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read())


def logged_in_browser(url: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{url}/login/", timeout=15).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"username": "admin", "password": "test-password-123", "csrfmiddlewaretoken": token}
    ).encode()
    request = urllib.request.Request(f"{url}/login/", data=form, headers={"Referer": url})
    opener.open(request, timeout=15).read()
    return opener


def test_artifacts_listed_and_downloaded_from_the_api_and_the_run_page(
    tmp_path: Path, git_project: GitProject
) -> None:
    git_project.commit({".conveyor.yml": WORKFLOW}, "Add build")
    git_project.push()
    data = tmp_path / "server-data"
    data.mkdir()
    server = start_server(data, workers=1)
    try:
        api = f"{server.url}/api"
        basic = base64.b64encode(b"admin:test-password-123").decode()
        token = post_json(f"{api}/tokens", {"name": "t"}, Authorization=f"Basic {basic}")["token"]
        auth = {"Authorization": f"Bearer {token}"}
        post_json(f"{api}/repositories", {"name": "shop", "url": str(git_project.bare)}, **auth)
        triggered = post_json(
            f"{api}/repositories/shop/runs", {"workflow": ".conveyor.yml"}, **auth
        )
        number = triggered["runs"][0]["number"]
        runs = f"{api}/repositories/shop/runs/{number}"
        deadline = time.monotonic() + 60
        while True:
            run = json.loads(call(runs, **auth)[1])
            if run["status"] not in ("queued", "running"):
                break
            assert time.monotonic() < deadline, run
            time.sleep(0.2)
        assert run["status"] == "success", (run["reason"], run["jobs"])

        status, body, _ = call(f"{runs}/artifacts")
        assert status == 401
        status, body, _ = call(f"{runs}/artifacts", **auth)
        assert status == 200
        (listed,) = json.loads(body)
        assert (listed["name"], listed["files"], listed["job_key"]) == ("dist files", 2, "build")
        stored = data / "artifacts" / str(run["id"]) / "dist files" / "artifact.tar.gz"
        assert listed["size"] == stored.stat().st_size

        status, archive, headers = call(listed["download_url"], **auth)
        assert status == 200 and headers["Content-Type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            assert sorted(zipped.namelist()) == ["docs/guide.txt", "pkg.whl"]
            assert zipped.read("pkg.whl") == b"wheel\n"
        status, archive, headers = call(listed["download_url"] + "?format=tar.gz", **auth)
        assert status == 200 and archive == stored.read_bytes()
        with tarfile.open(fileobj=io.BytesIO(archive)) as unpacked:
            assert sorted(unpacked.getnames()) == ["docs/guide.txt", "pkg.whl"]
        status, _, _ = call(listed["download_url"] + "?format=rar", **auth)
        assert status == 400
        status, _, _ = call(f"{runs}/artifacts/nothing", **auth)
        assert status == 404

        with urllib.request.urlopen(
            server.url + f"/repos/shop/runs/{number}/artifacts/x"
        ) as anonymous:
            assert "/login/" in anonymous.geturl()  # the page's link needs a user too
        browser = logged_in_browser(server.url)
        page = browser.open(f"{server.url}/repos/shop/runs/{number}/", timeout=15).read().decode()
        link = f"/repos/shop/runs/{number}/artifacts/dist%20files"
        assert "Artifacts" in page and f'href="{link}"' in page
        with browser.open(server.url + link, timeout=15) as response:
            downloaded = response.read()
        with zipfile.ZipFile(io.BytesIO(downloaded)) as zipped:
            assert zipped.read("docs/guide.txt") == b"guide\n"
        # The upload step's artifact-url output is that page link.
        step_log = [s for s in run["jobs"][0]["steps"] if s["name"].startswith("Run echo")]
        log_url = step_log[0]["log_download_url"]
        status, log, _ = call(log_url, **auth)
        assert f"url={server.url}{link}" in log.decode()
        assert "must consume synchronous iterators" not in server.output()
    finally:
        server.process.terminate()
        server.process.wait(timeout=15)
