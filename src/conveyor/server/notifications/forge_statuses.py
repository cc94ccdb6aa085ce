"""Commit statuses as each forge documents them: the endpoint, the auth header, the body.

- GitHub: ``POST {api}/repos/{owner}/{repo}/statuses/{sha}``, ``Authorization: Bearer``,
  ``{"state", "target_url", "description", "context"}``; states pending, success,
  failure, error.
- GitLab: ``POST {api}/projects/{id}/statuses/{sha}`` (the id, or the full path
  URL-encoded), ``PRIVATE-TOKEN``, ``{"state", "ref", "target_url", "description",
  "name"}``; states pending, running, success, failed, canceled, skipped.
- Gitea / Forgejo: ``POST {api}/repos/{owner}/{repo}/statuses/{sha}``,
  ``Authorization: token``, the same body as GitHub's; states pending, success,
  failure, error, warning.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urlsplit

from conveyor.server.notifications.models import Forge
from conveyor.server.repos.models import Delivery, Repository

# What a run's phase and status are called on each forge: (github, gitlab, gitea).
_STATES: dict[str, tuple[str, str, str]] = {
    "created": ("pending", "pending", "pending"),
    "started": ("pending", "running", "pending"),
    "success": ("success", "success", "success"),
    "failure": ("failure", "failed", "failure"),
    "cancelled": ("error", "canceled", "error"),
    "skipped": ("success", "skipped", "success"),
}
_COLUMN = {Forge.GITHUB: 0, Forge.GITLAB: 1, Forge.GITEA: 2}
DESCRIPTION_LIMIT = 140  # GitHub refuses longer descriptions


class ForgeSettingInvalid(ValueError):
    """A forge, API URL or project that cannot make a commit status request."""


def forge_state(forge: str, phase_or_status: str) -> str:
    """The forge's word for a run that was ``created``/``started`` or ended so."""
    states = _STATES.get(phase_or_status, _STATES["failure"])
    return states[_COLUMN[Forge(forge)]]


def status_request(
    forge: str, api_url: str, project: str, token: str, status: dict[str, Any]
) -> tuple[str, dict[str, str], bytes]:
    """``(url, headers, body)`` of the POST that sets ``status`` (an Outbound's message:
    sha, ref, phase, context, target_url, description) on the forge."""
    check_setting(forge, api_url, project)
    base = api_url.rstrip("/")
    state = forge_state(forge, status["phase"])
    description = status["description"]
    if len(description) > DESCRIPTION_LIMIT:
        description = description[: DESCRIPTION_LIMIT - 1] + "…"
    headers = {"Content-Type": "application/json", "User-Agent": "Conveyor"}
    body: dict[str, Any] = {
        "state": state,
        "target_url": status["target_url"],
        "description": description,
    }
    sha = status["sha"]
    if forge == Forge.GITLAB:
        url = f"{base}/projects/{quote(project, safe='')}/statuses/{sha}"
        headers["PRIVATE-TOKEN"] = token
        body["name"] = status["context"]
        ref = _short_ref(status.get("ref", ""))
        if ref:
            body["ref"] = ref
    else:
        url = f"{base}/repos/{project}/statuses/{sha}"
        body["context"] = status["context"]
        if forge == Forge.GITHUB:
            headers["Authorization"] = f"Bearer {token}"
            headers["Accept"] = "application/vnd.github+json"
            headers["X-GitHub-Api-Version"] = "2022-11-28"
        else:
            headers["Authorization"] = f"token {token}"
            headers["Accept"] = "application/json"
    return url, headers, json.dumps(body).encode("utf-8")


def _short_ref(ref: str) -> str:
    """GitLab's ``ref``: a branch or tag name; "" for other refs (pull requests)."""
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ""


_OWNER_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def check_setting(forge: str, api_url: str, project: str) -> None:
    """Raise ``ForgeSettingInvalid`` saying which field is wrong and how."""
    if forge not in Forge.values:
        raise ForgeSettingInvalid(f"forge: {forge!r} is not one of {', '.join(Forge.values)}")
    parts = urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ForgeSettingInvalid(f"api_url: {api_url!r} is not an http(s) URL")
    if forge == Forge.GITLAB:
        if not project.strip() or project != project.strip():
            raise ForgeSettingInvalid(
                "project: GitLab's project id or full path (group/project) is needed"
            )
    elif not _OWNER_REPO.match(project):
        raise ForgeSettingInvalid(f"project: {project!r} is not owner/repository")


_SCP = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>.+)$")


def _host_and_path(url: str) -> tuple[str, str] | None:
    if "://" in url:
        parts = urlsplit(url)
        if not parts.hostname:
            return None
        host = parts.hostname + (f":{parts.port}" if parts.port and parts.scheme != "ssh" else "")
        scheme = "https" if parts.scheme in ("ssh", "git") else parts.scheme
        return f"{scheme}://{host}", parts.path.strip("/")
    match = _SCP.match(url)
    if match and not url.startswith(("/", ".")):
        return f"https://{match['host']}", match["path"].strip("/")
    return None


def guess(repository: Repository) -> dict[str, str] | None:
    """The forge, API URL and project a repository's URL (and the webhooks it received)
    suggest; None for a local repository or an unknown forge."""
    found = _host_and_path(repository.url)
    if found is None:
        return None
    origin, path = found
    path = path.removesuffix(".git")
    host = urlsplit(origin).hostname or ""
    forge = {"github.com": Forge.GITHUB, "gitlab.com": Forge.GITLAB}.get(host)
    if host in ("codeberg.org", "gitea.com"):
        forge = Forge.GITEA
    if forge is None:
        provider = (
            Delivery.objects.filter(repository=repository, provider__in=Forge.values)
            .values_list("provider", flat=True)
            .first()
        )
        if provider is None:
            return None
        forge = Forge(provider)
    if forge == Forge.GITHUB:
        api = "https://api.github.com" if host == "github.com" else f"{origin}/api/v3"
    elif forge == Forge.GITLAB:
        api = f"{origin}/api/v4"
    else:
        api = f"{origin}/api/v1"
    return {"forge": forge.value, "api_url": api, "project": path}
