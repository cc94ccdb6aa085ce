"""``conveyor run``: run the pipeline for an event, show it live, print the seed's tables."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from conveyor.cli import EXIT_CANCELLED, EXIT_FAILED, EXIT_INVALID, EXIT_OK, UsageError
from conveyor.commands.selection import Selection, report_invalid, select
from conveyor.engine.events import Event, Status
from conveyor.engine.git_info import GitReading
from conveyor.engine.pipeline_status import PipelineTracker
from conveyor.engine.runner import RunOptions, run_workflow, select_jobs
from conveyor.engine.runner_labels import HostLabels
from conveyor.executors.base import Cancellation
from conveyor.executors.local import LocalExecutor
from conveyor.terminal.closed_stdout import is_closed_pipe, stop_writing_stdout
from conveyor.workflow.discovery import find_repository_root
from conveyor.workflow.errors import WorkflowInvalid
from conveyor.workflow.model import Workflow
from conveyor.workflow.triggers import dispatch_event


class Tee:
    """Hands each event to several sinks in turn.

    A sink that finds stdout's reader gone stops the output, never the run: the
    exception would otherwise reach the engine and fail the pipeline.
    """

    def __init__(self, *sinks: Any) -> None:
        self.sinks = sinks

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            with output_may_be_closed():
                sink.emit(event)


@contextmanager
def output_may_be_closed() -> Iterator[None]:
    try:
        yield
    except OSError as error:
        if not is_closed_pipe(error):
            raise
        stop_writing_stdout()


def parse_assignments(
    values: list[str], what: str, from_environment: bool = False
) -> dict[str, str]:
    result: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not name:
            raise UsageError(f"{what} {value!r}: expected NAME=VALUE")
        if not sep:
            if not from_environment:
                raise UsageError(f"{what} {value!r}: expected NAME=VALUE")
            if name not in os.environ:
                raise UsageError(f"{what} {name}: no =VALUE given and ${name} is not set")
            rest = os.environ[name]
        result[name] = rest
    return result


def parse_platforms(values: list[str]) -> HostLabels:
    """``--platform LABEL=host``: jobs asking for LABEL run on this machine too."""
    labels = []
    for value in values:
        label, sep, target = value.partition("=")
        if not label.strip() or not sep or target.strip().lower() != "host":
            raise UsageError(
                f"--platform {value!r}: expected LABEL=host (jobs run on this machine; "
                "there are no images or containers to map a label to)"
            )
        labels.append(label.strip())
    return HostLabels.of_this_machine(labels, advice="--platform {label}=host runs it here")


def read_secret_file(path: str) -> dict[str, str]:
    from dotenv import dotenv_values

    if not os.path.isfile(path):
        raise UsageError(f"--secret-file {path}: no such file")
    try:
        values = dotenv_values(path, encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"--secret-file {path}: not UTF-8 text") from None
    return {name: value or "" for name, value in values.items()}


def make_executor(args: argparse.Namespace) -> Any:
    """The local executor, or with --sandbox the bubblewrap sandbox (network on)."""
    if not args.sandbox:
        return LocalExecutor()
    from conveyor.executors.sandbox import (
        SandboxExecutor,
        SandboxPolicy,
        SandboxUnavailable,
        check_available,
    )

    policy = SandboxPolicy(run_as=_sandbox_user_for_root())
    try:
        return SandboxExecutor(policy, check_available(policy))
    except SandboxUnavailable as error:
        raise UsageError(f"--sandbox: {error}") from None


def _sandbox_user_for_root() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    import pwd

    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


def check_sandbox_arguments(args: argparse.Namespace) -> None:
    if args.sandbox and os.geteuid() == 0 and not args.clean:
        raise UsageError(
            "--sandbox as root runs the jobs as the user nobody, who would have to own "
            "the working tree: add --clean to run in a fresh checkout of HEAD instead"
        )


def make_sink(args: argparse.Namespace) -> Any:
    if args.json:
        from conveyor.terminal.json_lines import JsonLinesSink

        return JsonLinesSink(sys.stdout)
    if args.color == "always" or (args.color == "auto" and sys.stdout.isatty()):
        from conveyor.terminal.live import LiveSink, PipeSafeConsole

        # "always" means colour into a pipe or a file too, where rich would drop it.
        forced = args.color == "always" or None
        return LiveSink(PipeSafeConsole(highlight=False, force_terminal=forced))
    from conveyor.terminal.plain import PlainSink

    return PlainSink(sys.stdout)


@contextmanager
def clean_checkout(root: str) -> Iterator[str]:
    """A fresh clone of HEAD in a temporary directory, removed afterwards."""
    directory = tempfile.mkdtemp(prefix="conveyor-clean-")
    # Passable by others: a root run's sandbox user must reach it (--sandbox).
    os.chmod(directory, 0o711)
    try:
        result = subprocess.run(
            ["git", "clone", "--quiet", "--no-hardlinks", root, directory],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise UsageError(f"--clean: cannot clone {root}: {result.stderr.strip()}")
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def interrupt_cancels(cancellation: Cancellation) -> Iterator[None]:
    """First Ctrl-C cancels the run (steps are killed, `always()` steps still run);
    a second one stops waiting for them."""

    def on_interrupt(signum: int, frame: Any) -> None:
        if cancellation.cancelled:
            raise KeyboardInterrupt
        print("\nconveyor: cancelling (Ctrl-C again to stop at once)", file=sys.stderr)
        cancellation.cancel()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_command(args: argparse.Namespace, git: GitReading | None = None) -> int:
    """``git``: the working tree's description, already asked of git (cli.main)."""
    secrets = parse_assignments(args.secret, "--secret", from_environment=True)
    if args.secret_file:
        secrets = {**read_secret_file(args.secret_file), **secrets}
    variables = parse_assignments(args.var, "--var")
    given_inputs = parse_assignments(args.input, "--input")
    if args.parallel < 1:
        raise UsageError("--jobs must be at least 1")
    host_labels = parse_platforms(args.platform)
    check_sandbox_arguments(args)

    if git is None:
        git = GitReading(find_repository_root(os.getcwd()), with_dirty=not args.clean)
    with git:
        selection = select(args.workflow, args.event, args.eventpath, git)
    invalid = selection.invalid
    if args.jobs_only:
        # --job picks jobs by id: only the files that hold them matter then.
        _check_jobs_exist(selection.chosen, args.jobs_only, invalid)
        invalid = {}
    report_invalid(invalid)
    if not selection.chosen:
        for workflow, why in selection.passed_over:
            print(f"conveyor: {workflow.path}: not run: {why}", file=sys.stderr)
        print(f"conveyor: no workflow runs on {args.event}", file=sys.stderr)
        return EXIT_INVALID if invalid else EXIT_OK
    if args.list_actions:
        from conveyor.commands.list_actions import list_actions

        return list_actions(selection, args.jobs_only, args.actions_url)
    # Every workflow's inputs are checked before any of them runs.
    inputs = {
        id(w): _inputs_for(w, args.event, given_inputs, selection.payload) for w in selection.chosen
    }

    runs = [
        (w, _only_jobs(w, args.jobs_only))
        for w in selection.chosen
        # --job names jobs of another workflow: that one does not run
        if not args.jobs_only or set(args.jobs_only) & set(w.jobs)
    ]
    services: dict[str, Any] = {}
    matrix_filter = None
    if args.service or args.matrix or args.config or _declares_services(runs):
        from conveyor.commands.run_services import services_and_matrix

        services, matrix_filter = services_and_matrix(
            args.service, args.config, args.matrix, runs, host_labels
        )

    cancellation = Cancellation()
    sink = make_sink(args)
    worst = EXIT_OK
    with interrupt_cancels(cancellation):
        for workflow, _ in runs:
            code = _run_one(
                workflow,
                selection,
                args,
                secrets,
                variables,
                inputs[id(workflow)],
                host_labels,
                sink,
                cancellation,
                services=services,
                matrix_filter=matrix_filter,
            )
            worst = max(worst, code) if code != EXIT_CANCELLED else EXIT_CANCELLED
            if cancellation.cancelled:
                return EXIT_CANCELLED
    if invalid:
        # Said again at the end: the problems scrolled away while the others ran.
        report_invalid(invalid)
        return max(worst, EXIT_INVALID)
    return worst


def _only_jobs(workflow: Workflow, jobs: list[str] | None) -> list[str] | None:
    return [job for job in jobs if job in workflow.jobs] if jobs else None


def _declares_services(runs: list[tuple[Workflow, list[str] | None]]) -> bool:
    return any(job.services for workflow, _ in runs for job in workflow.jobs.values())


def _check_jobs_exist(
    workflows: list[Workflow], jobs: list[str] | None, invalid: dict[str, WorkflowInvalid]
) -> None:
    known = {job_id for workflow in workflows for job_id in workflow.jobs}
    for job in jobs or []:
        if job not in known:
            if invalid:
                # The job may be in a file that could not be read: show why.
                report_invalid(invalid)
            raise UsageError(f"--job {job}: no such job (jobs: {', '.join(sorted(known))})")


def _inputs_for(
    workflow: Workflow, event: str, given: dict[str, str], payload: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The workflow's ``inputs`` context and its event payload (see dispatch_event)."""
    if event != "workflow_dispatch":
        return {}, payload
    try:
        return dispatch_event(workflow.on.inputs, given, payload)
    except ValueError as error:
        raise UsageError(f"{workflow.path}: {error}") from None


def _run_one(
    workflow: Workflow,
    selection: Selection,
    args: argparse.Namespace,
    secrets: dict[str, str],
    variables: dict[str, str],
    dispatch: tuple[dict[str, Any], dict[str, Any]],
    host_labels: HostLabels,
    sink: Any,
    cancellation: Cancellation,
    services: dict[str, Any] | None = None,
    matrix_filter: dict[str, list[str]] | None = None,
) -> int:
    only_jobs = _only_jobs(workflow, args.jobs_only)
    tracker = PipelineTracker(workflow, select_jobs(workflow, only_jobs))
    with (
        clean_checkout(str(selection.root)) if args.clean else _in_place(str(selection.root))
    ) as workspace:
        options = RunOptions(
            workspace=workspace,
            event_name=args.event,
            event_payload=dispatch[1],
            git=selection.git,
            secrets=secrets,
            variables=variables,
            inputs=dispatch[0],
            host_labels=host_labels,
            max_parallel_jobs=args.parallel,
            only_jobs=only_jobs,
            disposable_workspace=bool(args.clean),  # --clean: a clone made for this run
            run_number=1,
            run_id=str(int(time.time() * 1000)),
            max_step_log_bytes=args.max_log_mb,  # already in bytes (cli._megabytes_in_bytes)
            actions_url=args.actions_url,
            services=services or {},
            matrix_filter=matrix_filter,
            # The repository's own actions/cache entries: by its real root path, so two
            # checkouts never share (nor read) each other's, remote or not.
            cache_scope=f"local:{os.path.realpath(selection.root)}",
        )
        try:
            result = run_workflow(
                workflow, options, make_executor(args), Tee(tracker, sink), cancellation
            )
        except WorkflowInvalid as invalid:
            # A composite action's action.yml is only read when its step runs.
            print(str(invalid), file=sys.stderr)
            return EXIT_INVALID
        finally:
            close = getattr(sink, "close", None)
            if close is not None:
                with output_may_be_closed():
                    close()
    with output_may_be_closed():
        sink.write_pipeline(tracker)
    if result.status == Status.SUCCESS:
        return EXIT_OK
    if result.status == Status.CANCELLED:
        return EXIT_CANCELLED
    return EXIT_FAILED


@contextmanager
def _in_place(root: str) -> Iterator[str]:
    yield root
