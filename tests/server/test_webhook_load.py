"""500 concurrent webhook deliveries against a real `conveyor server`: each recorded, run once."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.server.conftest import ROOT, GitProject, server_environment, start_server

pytestmark = pytest.mark.slow  # 500 deliveries and 500 runs

DELIVERIES = 500
DUPLICATES = 50
CLIENTS = 16  # requests in flight at once
WORKFLOW = "on: pull_request\nsteps:\n  - run: 'true'\n"


def post(url: str, secret: str, number: int, head: str) -> int:
    body = json.dumps(
        {
            "action": "opened",
            "number": number,
            "pull_request": {
                "number": number,
                # A branch of the same repository, as GitHub names it (a pull request
                # whose head cannot be told apart from a fork's gets no secrets).
                "head": {"ref": "feature", "sha": head, "repo": {"id": 7}},
                "base": {"ref": "main", "repo": {"id": 7}},
            },
        }
    ).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": f"delivery-{number}",
            "X-Hub-Signature-256": "sha256="
            + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def query(data: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(data / "conveyor.sqlite3", timeout=30) as database:
        return database.execute(sql).fetchall()


def test_500_concurrent_deliveries_each_run_once(tmp_path: Path, git_project: GitProject):
    data = tmp_path / "data"
    data.mkdir()
    head = git_project.commit({".conveyor.yml": WORKFLOW})
    git_project.push()
    server = start_server(data)
    try:
        added = subprocess.run(
            [sys.executable, "-m", "conveyor", "repo", "add", "shop", str(git_project.bare)],
            env=server_environment(data, CONVEYOR_URL=server.url),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert added.returncode == 0, added.stderr
        [(secret,)] = query(data, "select webhook_secret from repos_repository")
        url = f"{server.url}/hooks/github/shop"
        # Every delivery once, and some of them a second time right after the first, so
        # that both copies are in flight together.
        every = DELIVERIES // DUPLICATES
        numbers = [
            number
            for n in range(1, DELIVERIES + 1)
            for number in ((n, n) if n % every == 1 else (n,))
        ]
        started = time.monotonic()
        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = list(pool.map(lambda n: post(url, secret, n, head), numbers))
        print(f"{len(numbers)} deliveries answered in {time.monotonic() - started:.1f} s")
        assert set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}

        assert query(data, "select count(*), count(distinct delivery_id) from repos_delivery") == [
            (DELIVERIES, DELIVERIES)
        ]
        refs = query(data, "select ref, count(*) from runs_run group by ref having count(*) > 1")
        assert refs == []  # no delivery ran twice
        assert query(data, "select count(*) from runs_run") == [(DELIVERIES,)]

        deadline = time.monotonic() + 300
        while query(data, "select count(*) from runs_run where status in ('queued', 'running')")[0][
            0
        ]:
            assert time.monotonic() < deadline, "the runs did not all finish"
            time.sleep(0.5)
        assert query(data, "select status, count(*) from runs_run group by status") == [
            ("success", DELIVERIES)
        ]
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)
