"""``conveyor server``: the web UI, the API and the embedded workers in one process.

Start-up: settings from the environment (the flags only fill in what it leaves
unset); the data directory locked (one server per data directory: a second one
says which process holds it and exits 2); migrate the database; record the URL
it listens on in the data directory (for ``conveyor repo add`` and the hooks);
create the admin account on the first start; repair what a killed server left
behind; start the worker threads; serve ASGI with uvicorn. SIGINT/SIGTERM stop it
cleanly: uvicorn stops serving, the runs in progress are cancelled (their
processes killed) and recorded as cancelled because the server stopped.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import threading
import time
from typing import Any

from conveyor.cli import EXIT_INVALID, EXIT_OK

# The data directory's lock, held (open) for as long as this process runs.
_data_lock: int | None = None


def _listening_url(args: argparse.Namespace) -> str:
    host_in_url = f"[{args.host}]" if ":" in args.host else args.host
    if args.host in ("0.0.0.0", "::"):
        host_in_url = "127.0.0.1"
    return f"http://{host_in_url}:{args.port}"


def _configure_environment(args: argparse.Namespace) -> None:
    if args.data:
        os.environ["CONVEYOR_DATA"] = os.path.abspath(os.path.expanduser(args.data))
    if args.workers is not None:
        os.environ["CONVEYOR_WORKERS"] = str(args.workers)
    if getattr(args, "no_sandbox", False):
        os.environ["CONVEYOR_SANDBOX"] = "false"
    os.environ.setdefault("CONVEYOR_URL", _listening_url(args))
    os.environ["DJANGO_SETTINGS_MODULE"] = "conveyor.server.settings"


def _lock_data_directory() -> int | None:
    """Hold the data directory before anything touches it (migrations, recovery);
    None, having said why, when another server holds it."""
    global _data_lock
    from conveyor.server import conf, instance

    data = conf.data_dir()
    try:
        _data_lock = instance.lock_data_directory(data)
    except instance.DataDirectoryBusy as busy:
        holder = f"pid {busy.pid}" if busy.pid else "its pid not recorded yet"
        print(
            f"conveyor server: another conveyor server ({holder}) is using the data "
            f"directory {data}; stop it first, or give this one its own --data",
            file=sys.stderr,
        )
        return None
    except OSError as error:
        print(
            f"conveyor server: cannot lock the data directory {data}: {error.strerror}",
            file=sys.stderr,
        )
        return None
    return _data_lock


def server_command(args: argparse.Namespace) -> int:
    from conveyor.server.conf import SettingError

    if not 0 < args.port < 65536:
        print(f"conveyor server: --port {args.port}: not a TCP port (1-65535)", file=sys.stderr)
        return EXIT_INVALID
    if args.workers is not None and args.workers < 0:
        print("conveyor server: --workers must be 0 or more", file=sys.stderr)
        return EXIT_INVALID
    _configure_environment(args)
    try:
        if _lock_data_directory() is None:
            return EXIT_INVALID
        import django

        django.setup()
    except SettingError as error:
        print(f"conveyor server: {error}", file=sys.stderr)
        return EXIT_INVALID
    from django.conf import settings

    if getattr(args, "no_workers", False) and not settings.CONVEYOR_BROKER_URL:
        print(
            "conveyor server: --no-workers needs CONVEYOR_BROKER_URL (the broker through "
            "which `conveyor worker` processes get the jobs)",
            file=sys.stderr,
        )
        return EXIT_INVALID
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn
    from django.conf import settings
    from django.core.management import call_command
    from django.db import OperationalError

    from conveyor.server.database import startup_lock
    from conveyor.server.dispatch.embedded import EmbeddedWorkerPool
    from conveyor.server.runs.recovery import recover

    try:
        # Servers sharing a PostgreSQL database start one at a time: the first migrates,
        # makes the admin account and repairs its runs; the next finds that done.
        with startup_lock():
            call_command("migrate", interactive=False, verbosity=0)
    except OperationalError as error:
        print(f"conveyor server: cannot use the database: {error}", file=sys.stderr)
        return EXIT_INVALID
    # With workers, no job runs in this process: the sandbox is the workers' to make.
    problem = "" if settings.CONVEYOR_BROKER_URL else _check_sandbox()
    if problem:
        print(f"conveyor server: {problem}", file=sys.stderr)
        return EXIT_INVALID
    url = settings.CONVEYOR_URL
    from conveyor.server.instance import record_url

    # For `conveyor repo add` and the post-receive hooks: where to post pushes.
    record_url(settings.DATA_DIR, _listening_url(args))
    with startup_lock():
        ensure_admin(url)
        recovered = recover()
    if recovered.failed_runs:
        count = len(recovered.failed_runs)
        print(
            f"conveyor server: {count} run{'s' if count != 1 else ''} left running by a stopped "
            "server marked failed",
            flush=True,
        )
    pool = EmbeddedWorkerPool(settings.CONVEYOR_WORKERS)
    pool.start()
    lost_watch = None
    if settings.CONVEYOR_BROKER_URL:
        from conveyor.server.dispatch.lost import start_lost_worker_watch

        lost_watch = start_lost_worker_watch()
    # Catches up with pushes made while the server was down, then polls remotes.
    from conveyor.server.repos.polling import start_polling

    poller = start_polling()
    from conveyor.server.runs.retention import start_retention

    retention = start_retention()  # None: CONVEYOR_RETENTION_DAYS=0 keeps runs forever
    from conveyor.server.monitoring.watch import start_health_watch, stop_health_watch

    health_watch = start_health_watch()  # None: CONVEYOR_HEALTH_INTERVAL=0
    from conveyor.server.notifications.delivery import start_delivery, stop_delivery

    deliveries = start_delivery()  # notifications and commit statuses, retried
    config = uvicorn.Config(
        "conveyor.server.asgi:application",
        host=args.host,
        port=args.port,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    workers = settings.CONVEYOR_WORKERS
    where = f"{workers} worker{'s' if workers != 1 else ''}"
    if settings.CONVEYOR_BROKER_URL:
        from urllib.parse import urlsplit

        broker = urlsplit(settings.CONVEYOR_BROKER_URL)
        # The URL's password stays out of the output.
        where = (
            f"{workers} run{'s' if workers != 1 else ''} coordinated at once, jobs on "
            f"`conveyor worker` processes through {broker.scheme}://{broker.hostname}"
            f"{f':{broker.port}' if broker.port else ''}"
        )
    _announce_when_listening(
        server, f"Conveyor server on {url}/ (data: {settings.DATA_DIR}, {where})"
    )
    # uvicorn stops serving on SIGINT/SIGTERM, then raises the signal again to the handler
    # that was there before it: these turn that into an exception, so the runs are still
    # cancelled and recorded below.
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    try:
        server.run()
    except _Stop:
        pass
    except SystemExit:
        # uvicorn exits when it cannot listen; it has said why (address in use, ...).
        print(f"conveyor server: cannot listen on {args.host}:{args.port}", file=sys.stderr)
    finally:
        poller.stop()
        if retention is not None:
            retention.stop()
        if health_watch is not None:
            stop_health_watch(health_watch)
        stop_delivery(deliveries)
        if lost_watch is not None:
            lost_watch.stop()
        # With workers, their jobs go on: the next start coordinates those runs again.
        cancelled = pool.stop(cancel_runs=not settings.CONVEYOR_BROKER_URL)
        if cancelled:
            print(f"conveyor server: cancelled {len(cancelled)} run(s) in progress", flush=True)
    if not server.started:
        return EXIT_INVALID
    print("conveyor server: stopped", flush=True)
    return EXIT_OK


def _check_sandbox() -> str:
    """Why jobs cannot be sandboxed here ("" when they can, or when switched off, which
    is said loudly on every start)."""
    import logging

    from conveyor.executors.sandbox import SandboxUnavailable
    from conveyor.server.runs import sandboxing

    try:
        sandboxing.secure_data_dir()
        if not sandboxing.enabled():
            print(f"conveyor server: WARNING: {sandboxing.NO_SANDBOX_WARNING}", file=sys.stderr)
            logging.getLogger("conveyor.server").warning(sandboxing.NO_SANDBOX_WARNING)
            return ""
        sandboxing.check()
    except SandboxUnavailable as error:
        return (
            f"cannot sandbox jobs: {error}.\nThe server runs no job unsandboxed unless it is "
            "started with --no-sandbox (only for trusted workflows)."
        )
    except OSError as error:
        return f"cannot secure the data directory: {error}"
    return ""


def _announce_when_listening(server: Any, message: str) -> None:
    """Print ``message`` once uvicorn accepts connections (not before: the port may be taken)."""

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.01)
        if server.started:
            print(message, flush=True)

    threading.Thread(target=announce, name="announce", daemon=True).start()


class _Stop(Exception):
    """SIGINT or SIGTERM after uvicorn stopped serving."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop(signum)


def ensure_admin(url: str) -> None:
    """Create the admin account when no superuser exists, and say how to log in."""
    from django.contrib.auth import get_user_model

    from conveyor.server.accounts.models import Profile, Role
    from conveyor.server.conf import env_str

    users = get_user_model()
    if users.objects.filter(is_superuser=True).exists():
        return
    username = env_str("CONVEYOR_ADMIN_USER") or "admin"
    given = env_str("CONVEYOR_ADMIN_PASSWORD")
    password = given or secrets.token_urlsafe(12)
    user = users.objects.filter(username=username).first()
    if user is None:
        user = users.objects.create_superuser(username=username, password=password, email="")
    else:
        user.is_superuser = user.is_staff = True
        user.set_password(password)
        user.save()
    Profile.objects.update_or_create(user=user, defaults={"role": Role.ADMIN})
    if given:
        print(f"Created the admin account {username!r} (password from CONVEYOR_ADMIN_PASSWORD)")
    else:
        print(
            f"Created the admin account: log in at {url}/login/ as {username!r} with password "
            f"{password}\n(shown only this once; change it in {url}/admin/)",
            flush=True,
        )
