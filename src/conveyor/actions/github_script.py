"""``actions/github-script``: the ``script`` input run with this machine's node.

github_script.js (shipped beside this module) gives the script what GitHub's action
gives it: ``core``, ``context``, ``exec``, ``glob``, ``io``, ``require`` and a
``github`` client. There is no GitHub API for a local run, so every call through
``github`` fails with a message that says so. The runner's source is handed to
``node -e``: no file of Conveyor's needs to be visible inside a sandboxed job.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from conveyor.actions.action_inputs import ActionInputs
from conveyor.actions.action_steps import ActionFailed, at_uses, fail, job_env, log_index
from conveyor.actions.setup_node import find_node
from conveyor.engine.step_types import ActionHost, StepOutcome, StepScope
from conveyor.workflow.model import Step

INPUTS = {
    "script": "",
    "github-token": "",
    "debug": "false",
    "user-agent": "actions/github-script",
    "previews": "",
    "result-encoding": "json",
    "retries": "0",
    "retry-exempt-status-codes": "400,401,403,404,422",
    "base-url": "",
}


def run_github_script(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
) -> StepOutcome:
    try:
        inputs = ActionInputs(host, step, scope, contexts, INPUTS)
        if not inputs.given("script"):
            raise ActionFailed("input required and not supplied: script")
        if inputs.text("result-encoding") not in ("json", "string"):
            raise ActionFailed('"result-encoding" must be either "string" or "json"')
        if not inputs.text("retries").isdigit():
            raise ActionFailed(f"retries must be a whole number, got {inputs.text('retries')!r}")
        env = job_env(host, scope, step_env)
        environ = {**host.options.base_env, **env}
        nodes = [
            node
            for node in find_node(environ, host.can_use_tool)
            if host.can_use_tool(node.executable)
        ]
        if not nodes:
            raise ActionFailed("github-script needs node, and none is on this machine")
        node = max(nodes, key=lambda installation: installation.version)
        if inputs.given("github-token") and inputs.text("github-token") != contexts.get(
            "github", {}
        ).get("token"):
            host.log_line(
                log_index(step, scope),
                "github-token is accepted, but github.* calls cannot reach GitHub from Conveyor",
            )
    except ActionFailed as problem:
        return fail(host, step, scope, at_uses(step, str(problem)))
    for name in inputs.names():
        # As the runner names them: INPUT_RESULT-ENCODING (the hyphen stays); inputs
        # the action does not declare reach core.getInput too, as on GitHub.
        env[f"INPUT_{name.replace(' ', '_').upper()}"] = inputs.text(name)
    env["INPUT_SCRIPT"] = inputs.raw("script")
    return host.run_process(step, scope, [node.executable, "-e", runner_source()], env)


@cache
def runner_source() -> str:
    from importlib.resources import files

    return files("conveyor.actions").joinpath("github_script.js").read_text(encoding="utf-8")
