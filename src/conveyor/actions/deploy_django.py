"""``conveyor/deploy-django@v1``: the built-in that deploys the job's Django project to
a directory, zero-downtime, undoing itself when the release is unhealthy
(``conveyor.deploy``; docs/deploy.md)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

from conveyor.actions.action_inputs import ActionInputs
from conveyor.actions.action_steps import ActionFailed, at_uses, fail, job_env, log_index
from conveyor.actions.in_job import JOB_PYTHON, source
from conveyor.actions.runner_temp_files import (
    new_name,
    open_from_runner_temp,
    remove_from_runner_temp,
)
from conveyor.engine.events import DeploymentChanged, Status
from conveyor.engine.step_types import ActionHost, StepOutcome, StepScope
from conveyor.workflow.model import Step

if TYPE_CHECKING:
    from conveyor.deploy.deployer import DeploySettings

SANDBOXED_LOCAL_TARGET = (
    "a sandboxed job deploys to ssh:// targets only: a local target would run the "
    "project's code (manage.py, gunicorn) on this machine outside the sandbox; deploy "
    "with conveyor run, or on a server started with --no-sandbox for trusted workflows"
)

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
    "ssh-key": "",
    "ssh-known-hosts": "",
}


def run_deploy_django(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
) -> StepOutcome:
    from conveyor.deploy.deployer import DeploySettings, Reporter, deploy
    from conveyor.deploy.ssh_target import SshOptions, is_ssh
    from conveyor.deploy.state import LIVE, DeployError

    index = log_index(step, scope)
    inputs = ActionInputs(host, step, scope, contexts, DEPLOY_INPUTS)
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
    try:
        url = reachable_url(settings.target, settings.bind)
    except DeployError as error:
        return fail(host, step, scope, at_uses(step, str(error)))
    sandboxed = not host.can_use_tool(host.workspace)
    if sandboxed and not is_ssh(settings.target):
        # A local target would run the project's code (manage.py, gunicorn) on the
        # server's own machine, outside the sandbox: its data, keys and secrets.
        return fail(host, step, scope, at_uses(step, SANDBOXED_LOCAL_TARGET))
    archive = None
    if sandboxed:
        # The host never reads the workspace: the job packs it, the host only streams
        # the tar to the target.
        packed = _pack_in_job(host, step, scope, step_env, settings)
        if isinstance(packed, StepOutcome):
            return packed
        archive, settings.sha = packed
        settings.archive, settings.project_dir = archive, ""
    if is_ssh(settings.target):
        # The release runs on the target with the target's own environment and python;
        # of this job's environment only what the workflow sets (its env:) goes along.
        settings.ssh = SshOptions(
            key=inputs.raw("ssh-key"), known_hosts=inputs.raw("ssh-known-hosts")
        )
        env = job_env(host, scope, step_env)
    else:
        env = {**host.options.base_env, **job_env(host, scope, step_env)}
        seen = host.run_process(
            step, scope, ["python3", "-c", _JOB_PYTHON], job_env(host, scope, step_env)
        )
        if seen.outcome == Status.SUCCESS and seen.outputs.get("path"):
            # The job's PATH, with what its steps added (setup-python's interpreter first).
            env["PATH"] = seen.outputs["path"]
            settings.python = settings.python or seen.outputs.get("python", "")
        elif not settings.python:
            reason = "no python3 on the job's PATH: set python"
            return fail(host, step, scope, at_uses(step, reason))

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
                health_host=reporter.live_host if state == LIVE else "",
            )
        )

    reporter = Reporter(lambda line: host.log_line(index, line), changed)
    try:
        result = deploy(settings, reporter, env)
    except DeployError as error:
        return fail(host, step, scope, at_uses(step, str(error)))
    finally:
        if archive is not None:
            os.unlink(archive)
    outputs = {"release": result.release, "state": result.state, "url": url}
    if not result.succeeded:
        return fail(host, step, scope, at_uses(step, str(result.reason)), outputs)
    return StepOutcome(Status.SUCCESS, outputs=outputs)


def _pack_in_job(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    step_env: dict[str, str],
    settings: DeploySettings,
) -> tuple[str, str] | StepOutcome:
    """The project packed by the job (in_job/pack_release), copied out of ``runner.temp``
    to a file of this process's own: (its path, the commit), or the step's failure."""
    name = new_name(".tar")
    spec = {
        "project": settings.project_dir,
        "shared": settings.shared if settings.shared is not None else [],
        "output": os.path.join(host.runner_temp, name),
    }
    packed = host.run_process(
        step,
        scope,
        [JOB_PYTHON, "-c", source("pack_release"), json.dumps(spec)],
        job_env(host, scope, step_env),
    )
    if packed.outcome != Status.SUCCESS:
        remove_from_runner_temp(host.runner_temp, name)
        reason = packed.reason or "packing the project in the job failed"
        return fail(host, step, scope, at_uses(step, reason))
    fd_copy, copy = tempfile.mkstemp(prefix="conveyor-deploy-", suffix=".tar")
    with os.fdopen(fd_copy, "wb") as out, open_from_runner_temp(host.runner_temp, name) as fd:
        if fd is None:
            os.unlink(copy)
            reason = "the job's packed project is gone or is not a file"
            return fail(host, step, scope, at_uses(step, reason))
        with os.fdopen(os.dup(fd), "rb") as tar:
            shutil.copyfileobj(tar, out, 1024 * 1024)
    return copy, packed.outputs.get("sha", "")


_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
_ANY_ADDRESS = ("", "0.0.0.0", "::", "[::]")


def reachable_url(target: str, bind: str) -> str:
    """Where this machine reaches the app the deploy serves on ``bind``: the bind
    itself for a local target; for an ssh:// target the target's host when ``bind``
    listens on every address, the bind when both are this machine's loopback, else
    "" (a loopback address of another machine: only something in front of it, set as
    the environment's health URL, can be reached)."""
    from conveyor.deploy.ssh_target import SshAddress, is_ssh

    host, _, port = bind.rpartition(":")
    if not is_ssh(target):
        return f"http://{'127.0.0.1' if host in _ANY_ADDRESS else host}:{port}"
    remote = SshAddress.parse(target).host
    if host in _ANY_ADDRESS:
        return f"http://{remote}:{port}"
    if host in _LOOPBACK and remote not in _LOOPBACK:
        return ""
    return f"http://{bind}"


def _seconds(inputs: ActionInputs, name: str) -> float:
    text = inputs.text(name)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 86400:
        raise inputs.problem(f"input {name!r} must be a number of seconds, not {text!r}")
    return value
