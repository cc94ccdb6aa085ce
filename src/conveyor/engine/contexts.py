"""The ``github`` and ``runner`` contexts and the default environment of a hosted runner."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from conveyor.engine.git_info import GitInfo
from conveyor.engine.options import RunOptions
from conveyor.workflow.model import Workflow

_ARCHITECTURES = {
    "x86_64": "X64",
    "amd64": "X64",
    "i386": "X86",
    "i686": "X86",
    "aarch64": "ARM64",
    "arm64": "ARM64",
    "armv7l": "ARM",
}
_SYSTEMS = {"Linux": "Linux", "Darwin": "macOS", "Windows": "Windows"}


def debug_enabled(options: RunOptions) -> bool:
    """Step debug logging, switched on as on GitHub (secret or variable) or by RUNNER_DEBUG."""
    for source in (options.secrets, options.variables):
        for name in ("ACTIONS_STEP_DEBUG", "ACTIONS_RUNNER_DEBUG"):
            if str(source.get(name, "")).lower() == "true":
                return True
    return options.base_env.get("RUNNER_DEBUG") == "1"


def _api_urls(server_url: str) -> tuple[str, str]:
    if server_url.rstrip("/") == "https://github.com":
        return "https://api.github.com", "https://api.github.com/graphql"
    base = server_url.rstrip("/")
    return f"{base}/api/v3", f"{base}/api/graphql"


def _pull_request_refs(options: RunOptions, git: GitInfo) -> tuple[str, str]:
    head, base = git.head_ref, git.base_ref
    pull_request = options.event_payload.get("pull_request")
    if options.event_name.startswith("pull_request") and isinstance(pull_request, dict):
        head = head or str((pull_request.get("head") or {}).get("ref", ""))
        base = base or str((pull_request.get("base") or {}).get("ref", ""))
    return head, base


def github_context(
    workflow: Workflow,
    options: RunOptions,
    git: GitInfo,
    job_id: str,
    event_path: str,
) -> dict[str, Any]:
    api_url, graphql_url = _api_urls(git.server_url)
    head_ref, base_ref = _pull_request_refs(options, git)
    workflow_ref = f"{git.repository}/{workflow.path}@{git.ref}"
    return {
        "event": options.event_payload,
        "event_name": options.event_name,
        "event_path": event_path,
        "workspace": options.workspace,
        "job": job_id,
        "run_id": options.run_id,
        "run_number": str(options.run_number),
        "run_attempt": "1",
        "sha": git.sha,
        "ref": git.ref,
        "ref_name": git.ref_name,
        "ref_type": git.ref_type,
        "ref_protected": False,
        "head_ref": head_ref,
        "base_ref": base_ref,
        "repository": git.repository,
        "repository_owner": git.repository_owner,
        "repositoryUrl": git.repository_url,
        "actor": options.actor or git.actor,
        "triggering_actor": options.actor or git.actor,
        "server_url": git.server_url,
        "api_url": api_url,
        "graphql_url": graphql_url,
        "workflow": workflow.display_name,
        "workflow_ref": workflow_ref,
        "workflow_sha": git.sha,
        "action": "",
        "action_path": "",
        "action_ref": "",
        "action_repository": "",
        "token": options.secrets.get("GITHUB_TOKEN", ""),
        "retention_days": "90",
        "secret_source": "None",
    }


def runner_context(temp_dir: str, debug: bool, base_env: dict[str, str]) -> dict[str, Any]:
    tool_cache = base_env.get("RUNNER_TOOL_CACHE") or os.path.join(
        tempfile.gettempdir(), "conveyor-tool-cache"
    )
    # os.uname() gives what platform and socket would, without importing them.
    host = os.uname()
    context: dict[str, Any] = {
        "name": f"conveyor-{host.nodename}",
        "os": _SYSTEMS.get(host.sysname, host.sysname),
        "arch": _ARCHITECTURES.get(host.machine.lower(), host.machine.upper()),
        "temp": temp_dir,
        "tool_cache": tool_cache,
        "environment": "self-hosted",
        "debug": "1" if debug else "",
    }
    return context


def default_env(github: dict[str, Any], runner: dict[str, Any]) -> dict[str, str]:
    """The variables every step sees on a GitHub-hosted runner (GITHUB_*, RUNNER_*, CI)."""
    env = {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": github["workspace"],
        "GITHUB_SHA": github["sha"],
        "GITHUB_REF": github["ref"],
        "GITHUB_REF_NAME": github["ref_name"],
        "GITHUB_REF_TYPE": github["ref_type"],
        "GITHUB_REF_PROTECTED": "false",
        "GITHUB_REPOSITORY": github["repository"],
        "GITHUB_REPOSITORY_OWNER": github["repository_owner"],
        "GITHUB_RUN_ID": github["run_id"],
        "GITHUB_RUN_NUMBER": github["run_number"],
        "GITHUB_RUN_ATTEMPT": github["run_attempt"],
        "GITHUB_RETENTION_DAYS": github["retention_days"],
        "GITHUB_JOB": github["job"],
        "GITHUB_ACTION": github["action"],
        "GITHUB_ACTION_PATH": github["action_path"],
        "GITHUB_ACTOR": github["actor"],
        "GITHUB_TRIGGERING_ACTOR": github["triggering_actor"],
        "GITHUB_EVENT_NAME": github["event_name"],
        "GITHUB_EVENT_PATH": github["event_path"],
        "GITHUB_WORKFLOW": github["workflow"],
        "GITHUB_WORKFLOW_REF": github["workflow_ref"],
        "GITHUB_WORKFLOW_SHA": github["workflow_sha"],
        "GITHUB_SERVER_URL": github["server_url"],
        "GITHUB_API_URL": github["api_url"],
        "GITHUB_GRAPHQL_URL": github["graphql_url"],
        "GITHUB_HEAD_REF": github["head_ref"],
        "GITHUB_BASE_REF": github["base_ref"],
        "RUNNER_OS": runner["os"],
        "RUNNER_ARCH": runner["arch"],
        "RUNNER_NAME": runner["name"],
        "RUNNER_TEMP": runner["temp"],
        "RUNNER_TOOL_CACHE": runner["tool_cache"],
        "RUNNER_ENVIRONMENT": runner["environment"],
    }
    if runner["debug"]:
        env["RUNNER_DEBUG"] = "1"
    if not github["action_path"]:
        del env["GITHUB_ACTION_PATH"]
    return env
