"""Helpers (no tests) for the fork tests: a base repository with a secret and a
variable, a pull request's head pushed where GitHub keeps it (``refs/pull/N/head``),
signed deliveries of GitHub's ``pull_request`` event, and the lines a run printed."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from conveyor.server.repos.models import Secret, Variable
from conveyor.server.runs.models import LogChunk, Run
from tests.server.conftest import GitProject, git

FIXTURES = Path(__file__).resolve().parents[2] / "src/conveyor/server/repos/forges"
SECRET_VALUE = "s3cr3t-Fork-9d2e"
TOKEN_VALUE = "ghs_tokenlike0123456789"
SECRET_DIGEST = hashlib.sha256(SECRET_VALUE.encode()).hexdigest()
EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()

# Prints the secret (masked when there is one), its base64 and digest, a token-like
# secret, github.token and a repository variable.
SHOW = """\
      - name: Show
        env:
          KEY: ${{ secrets.DEPLOY_KEY }}
        run: |
          echo "code=CODE"
          echo "secret=[${{ secrets.DEPLOY_KEY }}]"
          echo "base64=[$(printf '%s' "$KEY" | base64)]"
          echo "digest=$(printf '%s' "$KEY" | sha256sum | cut -c1-64)"
          echo "token=[${{ secrets.GITHUB_TOKEN }}][${{ github.token }}]"
          echo "region=[${{ vars.REGION }}]"
"""


def workflow(event: str, code: str) -> str:
    return (
        f"name: {event} checks\non: {event}\njobs:\n  show:\n    runs-on: ubuntu-latest\n"
        f"    steps:\n{SHOW.replace('CODE', code)}"
    )


def configure(repository: Any) -> None:
    """The secrets and the variable every test's repository has."""
    for name, value in (("DEPLOY_KEY", SECRET_VALUE), ("GITHUB_TOKEN", TOKEN_VALUE)):
        secret = Secret(repository=repository, name=name)
        secret.set(value)
        secret.save()
    Variable.objects.create(repository=repository, name="REGION", value="eu-west-1")


def base_and_head(project: GitProject, base_files: dict[str, str], head_files: dict[str, str]):
    """``(base sha, head sha)``: ``base_files`` on main, ``head_files`` on top of it in the
    pull request's head, pushed to ``refs/pull/7/head`` as GitHub does for a fork's."""
    base = project.commit(base_files, "Base")
    project.push("main")
    head = project.commit(head_files, "The pull request")
    git("push", "-q", "origin", "HEAD:refs/pull/7/head", cwd=project.work)
    git("reset", "-q", "--hard", base, cwd=project.work)
    return base, head


def pull_request_delivery(base: str, head: str, *, fork: bool) -> dict[str, Any]:
    data = json.loads((FIXTURES / "github/fixtures/pull_request.json").read_text())
    pull = data["pull_request"]
    pull["head"]["sha"] = head
    pull["base"]["sha"] = base
    pull["base"]["repo"] = {"id": 1296269, "name": "shop", "full_name": "octo-org/shop"}
    if fork:
        pull["head"]["label"] = "mallory:checkout"
        pull["head"]["repo"] = {
            "id": 7777,
            "name": "shop",
            "full_name": "mallory/shop",
            "fork": True,
        }
        data["sender"] = {"login": "mallory", "id": 7, "type": "User"}
    else:
        pull["head"]["repo"] = {**pull["base"]["repo"], "fork": False}
    return data


def send(client: Any, repository: Any, data: dict[str, Any], delivery: str = "pr-1") -> Any:
    body = json.dumps(data).encode()
    signature = hmac.new(repository.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        "/hooks/github/shop",
        data=body,
        content_type="application/json",
        headers={
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": f"sha256={signature}",
        },
    )


def printed(run: Run) -> dict[str, str]:
    """What the Show step printed, as ``{"secret": "[...]", ...}``."""
    text = "\n".join(
        LogChunk.objects.filter(step__job__run=run)
        .order_by("step__index", "seq")
        .values_list("text", flat=True)
    )
    lines = [line for line in text.splitlines() if "=" in line]
    return dict(line.split("=", 1) for line in lines)


def without_secrets(run: Run) -> dict[str, str]:
    return {
        "code": printed(run)["code"],
        "secret": "[]",
        "base64": "[]",
        "digest": EMPTY_DIGEST,
        "token": "[][]",
        "region": "[eu-west-1]",
    }


def with_secrets(run: Run) -> dict[str, str]:
    return {
        "code": printed(run)["code"],
        "secret": "[***]",
        "base64": "[***]",
        "digest": SECRET_DIGEST,
        "token": "[***][***]",
        "region": "[eu-west-1]",
    }
