"""A deploy from start to finish, and its undoing: what ``conveyor/deploy-django`` and
``conveyor deploy`` / ``conveyor rollback`` run (docs/deploy.md)."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from conveyor.deploy import app_server, django_steps, releases
from conveyor.deploy.proxy import ensure_proxy
from conveyor.deploy.ssh_target import is_ssh
from conveyor.deploy.state import (
    DEPLOYING,
    FAILED,
    HEALTH_CHECKING,
    LIVE,
    RETIRED,
    ROLLED_BACK,
    DeployError,
    ReleaseState,
    Target,
)

if TYPE_CHECKING:
    from conveyor.deploy.ssh_target import SshOptions

DEFAULT_SHARED = ["media", ".env"]


@dataclass
class DeploySettings:
    target: str
    bind: str
    project_dir: str
    health_path: str = "/"
    keep_releases: int = 5
    shared: list[str] | None = None
    allow_irreversible_migrations: bool = False
    health_timeout: float = 30.0
    watch_seconds: float = 10.0
    settings_module: str = ""
    wsgi: str = ""
    python: str = ""
    drain_seconds: float = 30.0
    # What the release holds, when the caller made the list (the server makes it inside
    # the job's sandbox): ``archive``, a tar of the project (in_job/pack_release's), or
    # ``files``, relative paths in ``project_dir``; neither: git's list there. ``sha``:
    # the commit (None: HEAD in ``project_dir``).
    archive: str | None = None
    files: list[str] | None = None
    sha: str | None = None
    ssh: SshOptions | None = None  # how to log in to an ssh:// target


class Reporter:
    """Where a deploy says what it does: its log and its state changes."""

    def __init__(
        self,
        log: Callable[[str], None],
        changed: Callable[[str, str, str | None], None] = lambda state, release, reason: None,
    ) -> None:
        self.log = log
        self.changed = changed
        # The Host header the live release answers its health check to (its ALLOWED_HOSTS'),
        # set before ``changed(LIVE, ...)``: a watcher probes with it.
        self.live_host = ""


@dataclass
class DeployResult:
    release: str
    state: str
    reason: str | None = None  # why it failed (a live release may be unhealthy)

    @property
    def succeeded(self) -> bool:
        return self.state == LIVE and self.reason is None


def deploy(settings: DeploySettings, reporter: Reporter, env: dict[str, str]) -> DeployResult:
    """Deploy ``settings.project_dir`` to the target. Returns the release and how it
    ended (live, failed, rolled-back); raises ``DeployError`` before a release exists.
    An ``ssh://`` target: the same deploy, run on the target (``deploy.remote``)."""
    if not settings.health_path.startswith("/"):
        raise DeployError(f"health-path must start with /, not {settings.health_path!r}")
    if settings.archive is not None:
        if not os.path.isfile(settings.archive):
            raise DeployError(f"the project archive {settings.archive} does not exist")
    elif not os.path.isdir(settings.project_dir):
        raise DeployError(f"the project directory {settings.project_dir} does not exist")
    if is_ssh(settings.target):
        from conveyor.deploy import remote

        return remote.deploy(settings, reporter, env)
    target = Target(settings.target)
    with target.locked(reporter.log):
        return _deploy(settings, target, reporter, env)


def _deploy(
    settings: DeploySettings, target: Target, reporter: Reporter, env: dict[str, str]
) -> DeployResult:
    target.record_bind(settings.bind)
    sha = project_sha(settings)
    name = releases.release_name(sha)
    release_dir = target.release_dir(name)
    previous_name = target.current()
    release = ReleaseState(
        name=name,
        sha=sha,
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        previous=previous_name or "",
        health_path=settings.health_path,
    )
    target.save(release)
    reporter.changed(DEPLOYING, name, None)
    reporter.log(f"release {name} in {release_dir}")
    try:
        _prepare(settings, target, release, env, reporter)
    except DeployError as error:
        return _failed(target, release, str(error), reporter, env)
    except OSError as error:  # the target's disk: full, read-only, not ours
        return _failed(target, release, f"cannot write the release: {error}", reporter, env)
    return _go_live(settings, target, release, env, reporter)


def project_sha(settings: DeploySettings) -> str:
    """The commit the release is made of: the one given, else HEAD in the project."""
    if settings.sha is not None:
        return settings.sha
    return "" if settings.archive is not None else releases.project_sha(settings.project_dir)


def _process_env(env: dict[str, str], settings_module: str) -> dict[str, str]:
    clean = {key: value for key, value in env.items() if key != app_server.TRACKING_VARIABLE}
    clean["DJANGO_SETTINGS_MODULE"] = settings_module
    clean.pop("VIRTUAL_ENV", None)
    return clean


def _settings_module(release_dir: str, given: str) -> str:
    if given:
        return given
    try:
        with open(os.path.join(release_dir, "manage.py"), encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        raise DeployError("the project has no manage.py at its top") from None
    found = re.search(r"""DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([\w.]+)['"]""", text)
    if not found:
        raise DeployError("manage.py names no DJANGO_SETTINGS_MODULE: set settings-module")
    return found.group(1)


def _prepare(
    settings: DeploySettings,
    target: Target,
    release: ReleaseState,
    env: dict[str, str],
    reporter: Reporter,
) -> None:
    release_dir = target.release_dir(release.name)
    shared = DEFAULT_SHARED if settings.shared is None else settings.shared
    os.makedirs(release_dir)
    if settings.archive is not None:
        with open(settings.archive, "rb") as archive:
            releases.unpack_project(archive, release_dir)
    else:
        releases.copy_project(settings.project_dir, release_dir, shared, settings.files)
    releases.link_shared(target, release_dir, shared)
    release.settings_module = _settings_module(release_dir, settings.settings_module)
    runner = _runner(release, env, reporter)
    python = settings.python or shutil.which("python3", path=env.get("PATH")) or sys.executable
    venv_python = django_steps.make_virtualenv(runner, release_dir, python, target.cache_dir)
    facts = django_steps.prepare(runner, release_dir, venv_python)  # collectstatic, plan
    release.wsgi = settings.wsgi or facts.wsgi
    if not release.wsgi:
        raise DeployError("the settings name no WSGI_APPLICATION: set the wsgi input")
    release.host_header = facts.host_header
    django_steps.gate(facts, settings.allow_irreversible_migrations)
    release.before = facts.before
    release.applied = [[step["app"], step["name"]] for step in facts.plan]
    target.save(release)  # before migrating: a crash mid-migrate still knows what to undo
    if facts.plan and not facts.migrated:  # none planned: migrated already, or no database
        django_steps.migrate(runner, release_dir, venv_python)


def _runner(release: ReleaseState, env: dict[str, str], reporter: Reporter) -> django_steps.Runner:
    """What runs the release's manage.py: its settings, the job's environment."""
    return django_steps.Runner(reporter.log, _process_env(env, release.settings_module))


def start_server(
    target: Target, release: ReleaseState, env: dict[str, str], timeout: float, reporter: Reporter
) -> str | None:
    """The release's gunicorn started (if it is not running) and health-checked: None
    when healthy, else why not."""
    release_dir = target.release_dir(release.name)
    log_file = os.path.join(target.state_dir, "releases", f"{release.name}.log")
    if not app_server.is_running(release.pid, release_dir):
        release.pid, release.port = app_server.start(
            release_dir, release.wsgi, _process_env(env, release.settings_module), log_file
        )
        target.save(release)
        reporter.log(f"gunicorn of {release.name}: pid {release.pid}, 127.0.0.1:{release.port}")
    return app_server.wait_healthy(
        release.port,
        release.health_path,
        release.host_header,
        timeout,
        release.pid,
        release_dir,
        log_file,
    )


def _go_live(
    settings: DeploySettings,
    target: Target,
    release: ReleaseState,
    env: dict[str, str],
    reporter: Reporter,
) -> DeployResult:
    reporter.changed(HEALTH_CHECKING, release.name, None)
    try:
        problem = start_server(target, release, env, settings.health_timeout, reporter)
    except DeployError as error:
        problem = str(error)
    if problem is not None:
        return _failed(target, release, f"unhealthy, never switched to: {problem}", reporter, env)
    reporter.log(f"{release.name} is healthy on 127.0.0.1:{release.port}")
    try:
        proxy = ensure_proxy(target.state_dir, settings.bind)
        proxy.switch(release.upstream, drain_seconds=settings.drain_seconds)
    except Exception as error:  # the proxy's own failure, whatever its kind: said, not raised
        reason = f"the proxy on {settings.bind} did not switch to it: {error}"
        return _failed(target, release, reason, reporter, env)
    target.point_current_to(release.name)
    release.state = LIVE
    target.save(release)
    reporter.live_host = release.host_header
    reporter.changed(LIVE, release.name, None)
    reporter.log(f"{release.name} serves on {settings.bind}")
    if release.previous:
        _retire(target, target.load(release.previous))
    problem = _watch(release, settings.watch_seconds, reporter)
    if problem is not None and not release.previous:
        reason = f"unhealthy after the switch: {problem}; no earlier release to roll back to"
        reporter.log(reason)
        return DeployResult(release.name, LIVE, reason)
    if problem is not None:
        reason = f"unhealthy after the switch, rolled back: {problem}"
        reporter.log(reason)
        try:
            _rollback(target, settings.bind, reporter, env, None, reason, settings.health_timeout)
        except DeployError as error:
            reason = f"unhealthy after the switch: {problem}; the rollback failed: {error}"
            return DeployResult(release.name, LIVE, reason)
        return DeployResult(release.name, ROLLED_BACK, reason)
    kept = {release.name, release.previous} - {""}
    for name in releases.prune(target, settings.keep_releases, kept):
        reporter.log(f"removed the old release {name}")
    return DeployResult(release.name, LIVE)


def _retire(target: Target, old: ReleaseState) -> None:
    """The release that served before: its server stopped (the proxy drained it)."""
    app_server.stop(old.pid, target.release_dir(old.name))
    old.pid = 0
    if old.state == LIVE:
        old.state = RETIRED
    target.save(old)


def _watch(release: ReleaseState, seconds: float, reporter: Reporter) -> str | None:
    """Health-checks during ``seconds`` after the switch: the first problem, if any."""
    if seconds <= 0:
        return None
    reporter.log(f"watching {release.health_path} for {seconds:g}s")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        problem = app_server.health(release.port, release.health_path, release.host_header)
        if problem is not None:
            return problem
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    return None


def _failed(
    target: Target, release: ReleaseState, reason: str, reporter: Reporter, env: dict[str, str]
) -> DeployResult:
    """It never served: its server stopped, its migrations reversed."""
    reporter.log(reason)
    release_dir = target.release_dir(release.name)
    app_server.stop(release.pid, release_dir)
    release.pid = 0
    _reverse_migrations(target, release, env, reporter)
    release.state = FAILED
    release.reason = reason
    target.save(release)
    reporter.changed(FAILED, release.name, reason)
    return DeployResult(release.name, FAILED, reason)


def _reverse_migrations(
    target: Target, release: ReleaseState, env: dict[str, str], reporter: Reporter
) -> None:
    if not release.before or not release.applied:
        return
    release_dir = target.release_dir(release.name)
    python = os.path.join(release_dir, ".venv", "bin", "python")
    reporter.log(f"reversing the migrations of {release.name}")
    django_steps.unmigrate(_runner(release, env, reporter), release_dir, python, release.before)
    release.applied = []
    target.save(release)


def _apply_migrations_again(
    target: Target, release: ReleaseState, env: dict[str, str], reporter: Reporter
) -> None:
    release_dir = target.release_dir(release.name)
    python = os.path.join(release_dir, ".venv", "bin", "python")
    runner = _runner(release, env, reporter)
    facts = django_steps.inspect(runner, release_dir, python)
    if not facts.plan:
        return
    release.before = facts.before
    release.applied = [[step["app"], step["name"]] for step in facts.plan]
    target.save(release)
    django_steps.migrate(runner, release_dir, python)


def rollback(
    target_path: str,
    bind: str,
    reporter: Reporter,
    env: dict[str, str],
    to: str | None = None,
    reason: str | None = None,
    health_timeout: float = 30.0,
    ssh: SshOptions | None = None,
) -> DeployResult:
    """Serve release ``to`` (default: the one before ``current``) again: its server
    started and checked, traffic and ``current`` moved, the migrations of every newer
    release it replaces reversed, their servers stopped. ``bind`` "": the one the
    target was deployed with."""
    if is_ssh(target_path):
        from conveyor.deploy import remote

        return remote.rollback(target_path, bind, reporter, env, to, reason, health_timeout, ssh)
    target = Target(target_path)
    with target.locked(reporter.log):
        bind = bind or target.recorded_bind() or ""
        return _rollback(target, bind, reporter, env, to, reason, health_timeout)


def _rollback(
    target: Target,
    bind: str,
    reporter: Reporter,
    env: dict[str, str],
    to: str | None,
    reason: str | None,
    health_timeout: float,
) -> DeployResult:
    current_name = target.current()
    if current_name is None:
        raise DeployError(f"{target.path} has no current release to roll back")
    current = target.load(current_name)
    names = target.release_names()
    if to is None:
        to = current.previous
        if not to:
            raise DeployError(f"{current_name} has no previous release to roll back to")
    if to not in names:
        raise DeployError(f"no release {to!r} in {target.releases_dir}")
    if to == current_name:
        raise DeployError(f"{to} is already the current release")
    back = target.load(to)
    if not os.path.exists(os.path.join(target.release_dir(to), ".venv", "bin", "gunicorn")):
        raise DeployError(f"release {to} has no virtualenv with gunicorn: it was never deployed")
    reporter.log(f"rolling back from {current_name} to {to}")
    # Back to an older release: every newer one up to the current is undone. Forward to
    # a newer one (a rollback undone): its migrations, reversed meanwhile, are applied
    # again first, and the current release simply retires.
    forward = to > current_name
    undone = [] if forward else [target.load(n) for n in names if to < n <= current_name]
    if forward:
        _apply_migrations_again(target, back, env, reporter)
    # Traffic moves first (the old code reads the newer schema, as it did while the new
    # release deployed), then the migrations: the newest release's first, each by its
    # own migration files, which know how to undo their steps.
    problem = start_server(target, back, env, health_timeout, reporter)
    if problem is not None:
        raise DeployError(f"release {to} is not healthy: {problem}")
    try:
        ensure_proxy(target.state_dir, bind).switch(back.upstream)
    except Exception as error:  # the proxy's own failure, whatever its kind
        raise DeployError(f"the proxy on {bind} did not switch back to {to}: {error}") from None
    target.point_current_to(to)
    back.state = LIVE
    target.save(back)
    for release in reversed(undone):
        _reverse_migrations(target, release, env, reporter)
    for release in undone:
        app_server.stop(release.pid, target.release_dir(release.name))
        release.pid = 0
        if release.state in (LIVE, RETIRED):
            release.state = ROLLED_BACK
            release.reason = reason or f"rolled back to {to}"
        target.save(release)
    if forward:
        _retire(target, target.load(current_name))
    reporter.changed(ROLLED_BACK, current_name, reason or f"rolled back to {to}")
    reporter.log(f"{to} serves on {bind} again")
    return DeployResult(current_name, ROLLED_BACK, reason)


@dataclass
class ReleaseStatus:
    name: str
    state: str
    current: bool
    pid: int
    running: bool
    port: int
    health: str  # "healthy", the problem, or "-" when not running


def status(target_path: str, ssh: SshOptions | None = None) -> list[ReleaseStatus]:
    """Every release of the target, newest first: its state, its server, its health."""
    if is_ssh(target_path):
        from conveyor.deploy import remote

        return remote.status(target_path, ssh)
    target = Target(target_path)
    current = target.current()
    rows = []
    for name in reversed(target.release_names()):
        release = target.load(name)
        running = app_server.is_running(release.pid, target.release_dir(name))
        health = "-"
        if running:
            problem = app_server.health(release.port, release.health_path, release.host_header)
            health = problem or "healthy"
        rows.append(
            ReleaseStatus(
                name, release.state, name == current, release.pid, running, release.port, health
            )
        )
    return rows


def stop_all(target_path: str, bind: str = "", ssh: SshOptions | None = None) -> list[str]:
    """Every release's server stopped, and the proxy: nothing serves any more. ``bind``
    "": the one the target was deployed with."""
    if is_ssh(target_path):
        from conveyor.deploy import remote

        return remote.stop_all(target_path, bind, ssh)
    target = Target(target_path)
    bind = bind or target.recorded_bind() or ""
    stopped = []
    for name in target.release_names():
        release = target.load(name)
        if app_server.is_running(release.pid, target.release_dir(name)):
            app_server.stop(release.pid, target.release_dir(name))
            stopped.append(f"gunicorn of {name} (pid {release.pid})")
        if release.pid:
            release.pid = 0
            target.save(release)
    if bind:  # a target never deployed has no proxy to stop
        ensure_proxy(target.state_dir, bind).stop()
        stopped.append(f"the proxy on {bind}")
    return stopped
