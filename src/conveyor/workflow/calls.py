"""Reusable workflows: the ``jobs.<id>.uses`` reference and what a call may pass.

A job calls a workflow of the same repository (``./.github/workflows/F.yml``, from
the same commit as the caller) or of another one
(``owner/repo/.github/workflows/F.yml@ref``). As on GitHub, reusable workflows sit
directly in ``.github/workflows``. ``argument_problems`` checks the names a call
passes against the called workflow's ``on.workflow_call``; the values are checked
when the call runs (they may be expressions).

Limits are GitHub.com's (November 2025): ten levels of workflows (the top-level
caller and nine levels of reusable workflows below it) and at most fifty distinct
reusable workflows called from one workflow file, nested calls included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from conveyor.workflow.errors import Position, Problem
from conveyor.workflow.model import Job, Workflow

MAX_LEVELS = 10
MAX_CALLED_WORKFLOWS = 50

_WORKFLOW_FILE = r"\.github/workflows/[^/@\s]+\.ya?ml"
_LOCAL = re.compile(rf"\./(?P<path>{_WORKFLOW_FILE})")
_REMOTE = re.compile(
    rf"(?P<repository>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)/(?P<path>{_WORKFLOW_FILE})@(?P<ref>[^\s@]+)"
)
SHAPES = "./.github/workflows/FILE.yml or OWNER/REPO/.github/workflows/FILE.yml@REF"


@dataclass(frozen=True)
class CallReference:
    """Where a called workflow is: ``repository`` None for the caller's own repository."""

    path: str  # .github/workflows/F.yml
    repository: str | None = None  # owner/repo
    ref: str | None = None

    @property
    def local(self) -> bool:
        return self.repository is None

    def __str__(self) -> str:
        if self.repository is None:
            return f"./{self.path}"
        return f"{self.repository}/{self.path}@{self.ref}"


def parse_reference(uses: str) -> CallReference | None:
    """The reference ``uses`` names, or None when it is not a reusable workflow's."""
    local = _LOCAL.fullmatch(uses)
    if local:
        return CallReference(path=local.group("path"))
    remote = _REMOTE.fullmatch(uses)
    if remote:
        return CallReference(
            path=remote.group("path"),
            repository=remote.group("repository"),
            ref=remote.group("ref"),
        )
    return None


def argument_problems(job: Job, called: Workflow, shown: str) -> list[Problem]:
    """What is wrong with the names ``job`` passes to ``called`` (shown as ``shown``).

    Unknown inputs or secrets, required ones left out, and a workflow that cannot be
    called at all. Each problem is at the caller's ``with:``/``secrets:`` entry.
    """
    where = job.positions.get("uses", job.position)
    call = called.on.call
    if call is None:
        return [
            Problem(
                where,
                f"job '{job.id}' calls {shown}, which cannot be called: "
                "its 'on' has no workflow_call",
            )
        ]
    problems: list[Problem] = []
    for name in job.with_:
        if "${{" in name:
            continue  # an expression key; checked once evaluated
        if name not in call.inputs:
            known = ", ".join(call.inputs) or "none"
            problems.append(
                Problem(
                    _at(job, f"with.{name}", "with"),
                    f"input '{name}' is not defined in {shown} (its inputs: {known})",
                )
            )
    for name, spec in call.inputs.items():
        if spec.required and name not in job.with_:
            if any("${{" in key for key in job.with_):
                continue
            problems.append(
                Problem(
                    job.positions.get("with", where),
                    f"{shown} requires input '{name}', which job '{job.id}' does not pass",
                )
            )
    if isinstance(job.secrets, dict):
        for name in job.secrets:
            if name not in call.secrets:
                known = ", ".join(call.secrets) or "none"
                problems.append(
                    Problem(
                        _at(job, f"secrets.{name}", "secrets"),
                        f"secret '{name}' is not defined in {shown} (its secrets: {known})",
                    )
                )
    if job.secrets != "inherit":
        passed = job.secrets if isinstance(job.secrets, dict) else {}
        for name, secret in call.secrets.items():
            if secret.required and name not in passed:
                problems.append(
                    Problem(
                        job.positions.get("secrets", where),
                        f"{shown} requires secret '{name}', which job '{job.id}' does not pass "
                        "(pass it under 'secrets:' or use 'secrets: inherit')",
                    )
                )
    return problems


def _at(job: Job, key: str, fallback: str) -> Position:
    return job.positions.get(key) or job.positions.get(fallback) or job.position
