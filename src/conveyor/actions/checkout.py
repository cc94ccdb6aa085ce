"""``actions/checkout``: the run's commit, another commit, or a second copy under ``path:``.

The workspace already is a checkout of the run's commit (the user's working tree
locally, a fresh clone on the server), so the usual step (no ``ref``, no ``path``)
costs nothing. Otherwise git runs INSIDE the job (``in_job/checkout.sh``): the
workspace is the job's, and a ``.git/config`` there may name programs to run
(``core.fsmonitor``), which must run with the job's rights, in its sandbox.

The git objects come from the workspace's repository: the user's own locally, the
run's clone on the server (which borrows the mirror's). Only the run's repository
can be checked out; no credentials are needed, so none are written.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from conveyor.actions.action_steps import log_index
from conveyor.engine.events import Status
from conveyor.engine.step_types import ActionHost, StepOutcome, StepScope
from conveyor.workflow.model import Step

if TYPE_CHECKING:
    from conveyor.actions.action_inputs import ActionInputs

CHECKOUT_INPUTS = {
    "repository": "",
    "ref": "",
    "token": "",
    "ssh-key": "",
    "ssh-known-hosts": "",
    "ssh-strict": "true",
    "ssh-user": "git",
    "persist-credentials": "true",
    "path": "",
    "clean": "true",
    "filter": "",
    "sparse-checkout": "",
    "sparse-checkout-cone-mode": "true",
    "fetch-depth": "1",
    "fetch-tags": "false",
    "show-progress": "true",
    "lfs": "false",
    "submodules": "false",
    "set-safe-directory": "true",
    "github-server-url": "",
}
# Inputs about reaching a remote host: the commits are already on this machine.
_REMOTE_ONLY = ("token", "ssh-key", "ssh-known-hosts", "ssh-user", "filter", "github-server-url")


def run_checkout(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
) -> StepOutcome:
    # Imported here: nearly every workflow names checkout, few give it inputs, and
    # `conveyor run` should not pay for what its step may never need.
    from conveyor.actions.action_inputs import ActionInputs
    from conveyor.actions.in_job import source

    index = log_index(step, scope)
    inputs = ActionInputs(host, step, scope, contexts, CHECKOUT_INPUTS)
    github = contexts.get("github", {})
    own = str(github.get("repository", ""))
    repository = inputs.text("repository")
    if repository and repository.lower() != own.lower():
        raise inputs.problem(
            f"repository {repository}: Conveyor checks out only the run's own repository "
            f"({own}), from the commits it already has; fetch another one in a run: step"
        )
    target = _target(host, inputs)
    ref = inputs.text("ref")
    default_refs = {str(github.get(key, "")) for key in ("sha", "ref", "ref_name")} - {""}
    default_ref = not ref or ref in default_refs
    submodules = inputs.raw("submodules").strip().lower()
    if submodules not in ("true", "false", "recursive"):
        raise inputs.problem(
            f"input 'submodules' must be true, false or recursive, not {submodules!r}"
        )
    depth = inputs.integer("fetch-depth", 0)
    flags = {
        name: inputs.lenient_boolean(name)
        for name in (
            "clean",
            "fetch-tags",
            "show-progress",
            "lfs",
            "set-safe-directory",
            "persist-credentials",
            "sparse-checkout-cone-mode",
        )
    }
    for name in _REMOTE_ONLY:
        if inputs.given(name):
            host.log_line(index, f"{name}: not used; the commits come from {host.workspace}")
    if inputs.given("persist-credentials") and flags["persist-credentials"]:
        host.log_line(index, "persist-credentials: no credentials were used, so none are kept")
    sparse = "\n".join(inputs.lines("sparse-checkout"))
    same = os.path.normpath(target) == os.path.normpath(host.workspace)
    outputs = {"ref": str(github.get("ref", "")), "commit": str(github.get("sha", ""))}

    if same and default_ref and submodules == "false" and not flags["lfs"] and not sparse:
        host.log_line(
            index,
            f"Running in place: {host.workspace} is already checked out, "
            f"so {step.uses} has nothing to do.",
        )
        return StepOutcome(Status.SUCCESS, outputs=outputs)
    if same and not default_ref and not host.options.disposable_workspace:
        raise inputs.problem(
            f"ref {ref}: checking out another commit here would change your working tree "
            f"{host.workspace}; run with `conveyor run --clean` (a fresh clone of HEAD) or "
            "check it out beside it with path:"
        )
    if same and sparse and not host.options.disposable_workspace:
        raise inputs.problem(
            f"sparse-checkout would hide files of your working tree {host.workspace}; run "
            "with `conveyor run --clean` (a fresh clone of HEAD) or give path:"
        )
    env = {
        **host.env_context(scope),
        **step_env,
        "GIT_TERMINAL_PROMPT": "0",
        "CHECKOUT_SOURCE": host.workspace,
        "CHECKOUT_TARGET": target,
        "CHECKOUT_SAME": _word(same),
        "CHECKOUT_MOVE": _word(not (same and default_ref)),
        "CHECKOUT_REF": "" if default_ref else ref,
        "CHECKOUT_DEFAULT_SHA": str(github.get("sha", "")),
        "CHECKOUT_DEFAULT_REF": str(github.get("ref", "")),
        "CHECKOUT_FETCH_DEPTH": str(depth),
        # The user's own working tree is never cleaned: only a checkout made for the run.
        "CHECKOUT_CLEAN": _word(flags["clean"] and (host.options.disposable_workspace or not same)),
        "CHECKOUT_FETCH_TAGS": _word(flags["fetch-tags"]),
        "CHECKOUT_SHOW_PROGRESS": _word(flags["show-progress"]),
        "CHECKOUT_LFS": _word(flags["lfs"]),
        "CHECKOUT_SAFE_DIRECTORY": _word(flags["set-safe-directory"]),
        "CHECKOUT_SPARSE": sparse,
        "CHECKOUT_SPARSE_CONE": _word(flags["sparse-checkout-cone-mode"]),
        "CHECKOUT_SUBMODULES": submodules,
    }
    return host.run_process(step, scope, ["sh", "-c", source("checkout.sh")], env)


def _word(value: bool) -> str:
    return "true" if value else "false"


def _target(host: ActionHost, inputs: ActionInputs) -> str:
    """Where to check out: ``path`` under the workspace, which it must not leave."""
    path = inputs.text("path")
    workspace = os.path.normpath(host.workspace)
    target = os.path.normpath(os.path.join(workspace, path)) if path else workspace
    if os.path.commonpath([target, workspace]) != workspace:
        raise inputs.problem(
            f"path {path!r} leads to {target}, outside the workspace {workspace}; "
            "give a path inside it"
        )
    return target
