"""``conveyor/deploy-django@v1``: the built-in that deploys the job's Django project to
a directory, zero-downtime, undoing itself when the release is unhealthy
(``conveyor.deploy``; docs/deploy.md)."""

from __future__ import annotations

import os
from typing import Any

from conveyor.actions.action_inputs import ActionInputs
from conveyor.actions.action_steps import ActionFailed, at_uses, fail, job_env, log_index
from conveyor.engine.events import DeploymentChanged, Status
from conveyor.engine.step_types import ActionHost, StepOutcome, StepScope
from conveyor.workflow.model import Step

# Run in the job: the python its steps would run, and its PATH (as GITHUB_PATH made it).
_JOB_PYTHON = (
    "import os, sys\n"
    "with open(os.environ['GITHUB_OUTPUT'], 'a') as out:\n"
    "    out.write(f\"python={sys.executable}\\npath={os.environ.get('PATH', '')}\\n\")\n"
)

DEPLOY_INPUTS = {
    "target": "",
    "bind": "",
    "health-path": "/",
    "project-dir": "",
    "keep-releases": "5",
    "shared": "media\n.env",
    "allow-irreversible-migrations": "false",
    "health-timeout": "30",
    "watch-seconds": "10",
    "settings-module": "",
    "wsgi": "",
    "python": "",
}


def run_deploy_django(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
) -> StepOutcome:
    from conveyor.deploy.deployer import DeploySettings, Reporter, deploy
    from conveyor.deploy.state import LIVE, DeployError

    index = log_index(step, scope)
    inputs = ActionInputs(host, step, scope, contexts, DEPLOY_INPUTS)
    if not host.can_use_tool(host.workspace):
        # A sandboxed job (the server's): the deploy runs the project's code (manage.py,
        # gunicorn) on this machine, outside the sandbox, which must not happen.
        return fail(
            host,
            step,
            scope,
            at_uses(
                step,
                "a sandboxed job cannot deploy yet (the deploy runs the project's code "
                "outside the sandbox); deploy with conveyor run, or on a server "
                "started with --no-sandbox for trusted workflows",
            ),
        )
    for required in ("target", "bind"):
        if not inputs.given(required):
            raise inputs.problem(f"input {required!r} is required")
    project = inputs.text("project-dir")
    try:
        allow_irreversible = inputs.toolkit_boolean("allow-irreversible-migrations")
    except ActionFailed as error:
        return fail(host, step, scope, at_uses(step, str(error)))
    settings = DeploySettings(
        target=inputs.text("target"),
        bind=inputs.text("bind"),
        project_dir=os.path.join(host.workspace, project) if project else host.workspace,
        health_path=inputs.text("health-path"),
        keep_releases=inputs.integer("keep-releases", 1),
        shared=inputs.lines("shared"),
        allow_irreversible_migrations=allow_irreversible,
        health_timeout=_seconds(inputs, "health-timeout"),
        watch_seconds=_seconds(inputs, "watch-seconds"),
        settings_module=inputs.text("settings-module"),
        wsgi=inputs.text("wsgi"),
        python=inputs.text("python"),
    )
    url = f"http://{settings.bind}"
    env = {**host.options.base_env, **job_env(host, scope, step_env)}
    seen = host.run_process(
        step, scope, ["python3", "-c", _JOB_PYTHON], job_env(host, scope, step_env)
    )
    if seen.outcome == Status.SUCCESS and seen.outputs.get("path"):
        # The job's PATH, with what its steps added (setup-python's interpreter first).
        env["PATH"] = seen.outputs["path"]
        settings.python = settings.python or seen.outputs.get("python", "")
    elif not settings.python:
        return fail(host, step, scope, at_uses(step, "no python3 on the job's PATH: set python"))

    def changed(state: str, release: str, reason: str | None) -> None:
        host.emit(
            DeploymentChanged(
                job_key=host.job_key,
                step=index,
                state=state,
                target=settings.target,
                release=release,
                url=url,
                reason=reason,
                health_path=settings.health_path,
                health_host=_health_host(settings.target, release) if state == LIVE else "",
            )
        )

    reporter = Reporter(lambda line: host.log_line(index, line), changed)
    try:
        result = deploy(settings, reporter, env)
    except DeployError as error:
        return fail(host, step, scope, at_uses(step, str(error)))
    outputs = {"release": result.release, "state": result.state, "url": url}
    if not result.succeeded:
        return fail(host, step, scope, at_uses(step, str(result.reason)), outputs)
    return StepOutcome(Status.SUCCESS, outputs=outputs)


def _health_host(target: str, release: str) -> str:
    """The Host header the release answers its health check to (its ALLOWED_HOSTS'),
    read from the target's record of it; "" when the target cannot be read here."""
    from conveyor.deploy.state import DeployError, Target

    try:
        return Target(target).load(release).host_header
    except (DeployError, OSError, ValueError):
        return ""


def _seconds(inputs: ActionInputs, name: str) -> float:
    text = inputs.text(name)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 86400:
        raise inputs.problem(f"input {name!r} must be a number of seconds, not {text!r}")
    return value
