"""Rollback from the server: an environment's live release undone, the one before it
serving again (``conveyor.deploy.deployer.rollback``, as ``conveyor rollback`` does).

A member asks for it (the environment page's Rollback button, the API), or the health
watch does when a deployment it watches closely fails (``auto_rollback``). The target
and bind come from the environment's last deployment that went live. The rollback
runs in a thread of its own and is recorded as a Deployment row of the environment
(``running``, then ``success`` or ``failure``; its ``state`` ``rolled-back``), so the
history shows it; the row holds the environment like any deployment, so a rollback
never runs beside a deploy.

The rollback runs the project's code (``manage.py migrate``, gunicorn) on the target:
a sandboxed server refuses a directory target, which is on its own machine, outside
the sandbox. An ssh:// target is logged in to with the environment's ``DEPLOY_SSH_KEY``
secret, its host key pinned by ``DEPLOY_SSH_KNOWN_HOSTS`` (a variable or a secret).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from conveyor.server.repos.models import Environment
from conveyor.server.runs import sandboxing
from conveyor.server.runs.environments import end_deployment
from conveyor.server.runs.models import (
    SERVER_ROLLBACK_JOB_PREFIX,
    Deployment,
    DeploymentStatus,
)

logger = logging.getLogger("conveyor.server.monitoring")

WATCH_ACTOR = "health watch"
# The environment's secret and variable an ssh:// target's rollback logs in with.
SSH_KEY_NAME = "DEPLOY_SSH_KEY"
SSH_KNOWN_HOSTS_NAME = "DEPLOY_SSH_KNOWN_HOSTS"
LIVE_STATES = ("live", "rolled-back")
SANDBOXED_REFUSAL = (
    "a sandboxed server rolls back ssh:// targets only: {target} is a directory on the "
    "server's own machine, where the rollback would run the project's code (manage.py "
    "migrate, gunicorn) outside the sandbox; roll back with `conveyor rollback` there, "
    "or run the server with --no-sandbox (trusted workflows only)"
)
# Passed from the server's own environment to the project's processes: no more (the
# server's settings and database URL are not the project's business).
_PASSED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "LOGNAME")


class RollbackRefused(Exception):
    """A rollback that cannot start: the message says why."""


class RollbackBusy(RollbackRefused):
    """A deployment (or another rollback) holds the environment: try again later."""


def last_live_deployment(environment: Environment) -> Deployment | None:
    """The environment's newest deployment that served (live, or a rollback's)."""
    return (
        environment.deployments.filter(state__in=LIVE_STATES)
        .exclude(target="")
        .exclude(run__from_fork=True)  # a fork's code chose that target
        .select_related("run")
        .order_by("-pk")
        .first()
    )


def bind_of(environment: Environment, deployment: Deployment) -> str | None:
    """The HOST:PORT the deployment's target serves on: from what its deploy step said
    (kept by the watch), else its URL when that is ``http://<bind>``."""
    from conveyor.server.monitoring.models import HealthCheck

    check = HealthCheck.objects.filter(environment=environment).first()
    for url in (check.deployed_url if check else "", deployment.url):
        if url.startswith("http://"):
            bind = url.removeprefix("http://").rstrip("/")
            if bind and "/" not in bind:
                return bind
    return None


def target_refusal(target: str) -> str | None:
    """Why the server cannot roll ``target`` back (None when it can try)."""
    if target.startswith("ssh://"):
        return None  # the deployer reaches it, or says why not
    if "://" in target:
        return f"the target {target} is neither a directory nor an ssh:// URL"
    if sandboxing.enabled():
        return SANDBOXED_REFUSAL.format(target=target)
    if not os.path.isabs(target) or not os.path.isdir(os.path.join(target, ".conveyor")):
        return (
            f"the target {target} is not reachable from the server: no deploy target "
            "directory there on this machine"
        )
    return None


def rollback_environment(
    environment: Environment,
    by: str,
    to: str | None = None,
    reason: str = "",
) -> Deployment:
    """Start rolling ``environment``'s live release back (to ``to``, default the one
    before it); returns the rollback's Deployment row (``running``). Raises
    ``RollbackRefused`` (``RollbackBusy`` while a deployment holds the environment)."""
    live = last_live_deployment(environment)
    if live is None:
        raise RollbackRefused(
            f"environment {environment.name!r} has no deployment that went live to roll back"
        )
    refusal = target_refusal(live.target)
    if refusal is not None:
        raise RollbackRefused(refusal)
    # An ssh:// target knows the bind it serves on (the deploy recorded it there).
    bind = "" if live.target.startswith("ssh://") else bind_of(environment, live)
    if bind is None:
        raise RollbackRefused(
            f"the deployment of run #{live.run.number} does not say the address it serves on "
            f"(its URL is {live.url or 'empty'})"
        )
    why = reason or f"rollback asked by {by}"
    row = _hold_environment(environment, live, by, why)
    env = _process_env(environment)
    ssh = None
    if live.target.startswith("ssh://"):
        ssh = _ssh_options(env)
    threading.Thread(
        target=_roll_back,
        args=(row.pk, live.target, bind, env, to, why, ssh),
        name=f"conveyor-rollback-{row.pk}",
        daemon=True,
    ).start()
    return row


def _hold_environment(
    environment: Environment, live: Deployment, by: str, reason: str
) -> Deployment:
    now = timezone.now()
    try:
        with transaction.atomic():
            row = Deployment.objects.create(
                run=live.run,
                job_key=f"{SERVER_ROLLBACK_JOB_PREFIX}{now:%Y%m%dT%H%M%S.%f}",
                environment=environment,
                status=DeploymentStatus.RUNNING,
                reason=reason,
                target=live.target,
                url=live.url,
                triggered_by=by,
                started_at=now,
            )
    except IntegrityError:
        raise RollbackBusy(
            f"a deployment to {environment.name!r} is in progress: roll back once it ends"
        ) from None
    from conveyor.server.runs import signals

    signals.tell(signals.deployment_changed, deployment=row)
    return row


def _process_env(environment: Environment) -> dict[str, str]:
    """What the project's processes get: the basics of the server's own environment and
    the environment's variables and secrets, as its deploy jobs get them."""
    env = {name: os.environ[name] for name in _PASSED_VARIABLES if name in os.environ}
    env.update({variable.name: variable.value for variable in environment.variables.all()})
    env.update({secret.name: secret.reveal() for secret in environment.secrets.all()})
    return env


def _ssh_options(env: dict[str, str]) -> Any:
    """How the server logs in to an ssh:// target: the environment's DEPLOY_SSH_KEY
    secret and its DEPLOY_SSH_KNOWN_HOSTS (variable or secret) pinning the host key,
    taken out of what the target's processes get (the key never leaves this machine)."""
    from conveyor.deploy.ssh_target import SshOptions

    return SshOptions(key=env.pop(SSH_KEY_NAME, ""), known_hosts=env.pop(SSH_KNOWN_HOSTS_NAME, ""))


def _roll_back(
    row_id: int,
    target: str,
    bind: str,
    env: dict[str, str],
    to: str | None,
    reason: str,
    ssh: Any = None,
) -> None:
    from conveyor.deploy.deployer import Reporter, rollback
    from conveyor.deploy.state import DeployError

    log: list[str] = []
    try:
        try:
            result = rollback(
                target, bind, Reporter(log.append), env, to=to, reason=reason, ssh=ssh
            )
        except DeployError as error:
            end_deployment(row_id, DeploymentStatus.FAILURE, f"{reason}; it failed: {error}")
        except Exception as error:  # whatever breaks, the row ends and says so
            logger.exception("rollback %s of %s failed", row_id, target)
            end_deployment(row_id, DeploymentStatus.FAILURE, f"{reason}; it failed: {error}")
        else:
            serving = _serving_again(log) or to or "the release before"
            Deployment.objects.filter(pk=row_id).update(
                state="rolled-back",
                release=result.release,
                sha=_sha_of(row_id, serving),
            )
            end_deployment(
                row_id,
                DeploymentStatus.SUCCESS,
                f"{reason}; {result.release} rolled back, {serving} serves again",
            )
    finally:
        connection.close()


def _serving_again(log: list[str]) -> str:
    """The release the deployer switched back to, from its log line saying so."""
    for line in log:
        if line.startswith("rolling back from ") and " to " in line:
            return line.rsplit(" to ", 1)[1].strip()
    return ""


def _sha_of(row_id: int, release: str) -> str:
    """The commit of ``release``, from the deployment that made it (else "")."""
    row = Deployment.objects.filter(pk=row_id).first()
    if row is None or not release:
        return ""
    made = (
        Deployment.objects.filter(environment_id=row.environment_id, release=release)
        .exclude(pk=row_id)
        .order_by("-pk")
        .first()
    )
    return made.sha if made else ""


def end_interrupted_rollbacks() -> int:
    """Rollbacks a stopped server left running end as failed (at start-up)."""
    left = list(
        Deployment.objects.filter(
            job_key__startswith=SERVER_ROLLBACK_JOB_PREFIX, status=DeploymentStatus.RUNNING
        ).values_list("pk", flat=True)
    )
    for row_id in left:
        end_deployment(row_id, DeploymentStatus.FAILURE, "the server stopped during the rollback")
    return len(left)
