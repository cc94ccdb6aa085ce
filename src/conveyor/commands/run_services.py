"""``conveyor run --service``, ``--config`` and ``--matrix``: read, then checked against the
workflows before anything runs.

Services come from three places, the first that names a service wins:

1. ``--service NAME=HOST:PORT[,PORT...]`` (repeatable);
2. the ``[services]`` table of ``--config FILE``, else of the user's own config file,
   ``$XDG_CONFIG_HOME/conveyor/config.toml`` (``~/.config/conveyor/config.toml``):
   ``postgres = "127.0.0.1:5432"``. It is the user's file, not the repository's: where
   a service runs is a fact of the machine, not of the workflow.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from conveyor.cli import UsageError
from conveyor.engine.runner import select_jobs
from conveyor.engine.runner_labels import HostLabels, labels_of
from conveyor.engine.services import ServiceAddress, parse_service_address, parse_service_assignment
from conveyor.workflow.errors import Problem, WorkflowInvalid
from conveyor.workflow.matrix import (
    MatrixError,
    expand_matrix,
    leg_keys,
    matrix_job_name,
    select_legs,
)
from conveyor.workflow.model import Job, Workflow


def user_config_path(environ: dict[str, str] | None = None) -> Path:
    environ = dict(os.environ) if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "conveyor" / "config.toml"


def read_service_config(path: Path, required: bool) -> dict[str, ServiceAddress]:
    """The ``[services]`` table of a TOML config file; a missing file is empty unless
    ``required`` (given with ``--config``)."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if required:
            raise UsageError(f"--config {path}: no such file") from None
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read it: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{path}: not valid TOML: {error}") from None
    table = data.get("services", {})
    if not isinstance(table, dict):
        raise UsageError(
            f"{path}: 'services' must be a table: [services] then NAME = \"HOST:PORT\""
        )
    services: dict[str, ServiceAddress] = {}
    for name, value in table.items():
        if not isinstance(value, str):
            raise UsageError(
                f'{path}: [services] {name}: expected a text "HOST:PORT", '
                f"got {type(value).__name__}"
            )
        try:
            services[name] = parse_service_address(value)
        except ValueError as error:
            raise UsageError(f"{path}: [services] {name} = {error}") from None
    return services


def service_addresses(flags: list[str], config: str | None) -> dict[str, ServiceAddress]:
    """``--service`` flags over the config file's ``[services]``."""
    path = Path(config) if config else user_config_path()
    services = read_service_config(path, required=config is not None)
    for text in flags:
        try:
            name, address = parse_service_assignment(text)
        except ValueError as error:
            raise UsageError(f"--service {error}") from None
        services[name] = address
    return services


def parse_matrix_filter(values: list[str]) -> dict[str, list[str]] | None:
    """``--matrix KEY=VALUE`` (repeatable; several values for one key: any of them)."""
    if not values:
        return None
    wanted: dict[str, list[str]] = {}
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--matrix {text!r}: expected KEY=VALUE, e.g. python-version=3.12")
        wanted.setdefault(key.strip(), []).append(value)
    return wanted


def _jobs_that_run(
    workflow: Workflow, only_jobs: list[str] | None, host_labels: HostLabels
) -> list[Job]:
    """The selected jobs, less those whose written-out runs-on is not served here."""
    jobs = []
    for job_id in select_jobs(workflow, only_jobs):
        job = workflow.jobs[job_id]
        written_out = job.runs_on is not None and "${{" not in repr(job.runs_on)
        if written_out and host_labels.not_served(labels_of(job.runs_on)) is not None:
            continue
        jobs.append(job)
    return jobs


def check_services(
    runs: list[tuple[Workflow, list[str] | None]],
    services: dict[str, ServiceAddress],
    flags: list[str],
    host_labels: HostLabels,
) -> list[str]:
    """Refuse a run with an unmapped service (WorkflowInvalid: each at file:line:col);
    returns warnings for ``--service`` names no job that runs declares."""
    unmapped: list[Problem] = []
    declared: set[str] = set()
    for workflow, only_jobs in runs:
        for job in _jobs_that_run(workflow, only_jobs, host_labels):
            for service_id, service in job.services.items():
                if service.image == "":
                    continue  # GitHub starts no such service
                declared.add(service_id)
                # An image made by an expression may be empty (no service): checked when
                # the job starts, where each leg's value is known.
                if service_id not in services and "${{" not in service.image:
                    unmapped.append(
                        Problem(
                            service.position,
                            f"service '{service_id}' of job '{job.id}' ({service.image}) is not "
                            "mapped to a running service; Conveyor starts no service "
                            f"containers: give the address of one with --service "
                            f"{service_id}=HOST:PORT (or in the [services] table of "
                            f"{user_config_path()})",
                        )
                    )
    if unmapped:
        raise WorkflowInvalid(unmapped)
    warnings = []
    for text in flags:
        name = text.partition("=")[0].strip()
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            warnings.append(
                f"--service {name}: no job that runs declares a service '{name}' "
                f"(services: {known})"
            )
    return warnings


def check_matrix_filter(
    runs: list[tuple[Workflow, list[str] | None]],
    wanted: dict[str, list[str]],
    host_labels: HostLabels,
) -> None:
    """Refuse ``--matrix`` that no job has a key for, or that leaves a job no leg (for the
    matrices written out; one made by an expression is checked when its job starts)."""
    keys_seen: set[str] = set()
    dynamic = False
    for workflow, only_jobs in runs:
        for job in _jobs_that_run(workflow, only_jobs, host_labels):
            legs = _static_legs(job)
            if legs is None:
                dynamic = dynamic or (job.strategy is not None and job.strategy.matrix is not None)
                continue
            keys_seen.update(leg_keys(legs))
            if any(key in leg_keys(legs) for key in wanted) and not select_legs(legs, wanted):
                given = " ".join(f"--matrix {k}={v}" for k, texts in wanted.items() for v in texts)
                names = ", ".join(matrix_job_name(job.id, values) for values in legs)
                where = job.positions.get("strategy", job.position)
                raise UsageError(
                    f"{where}: {given} matches no leg of job '{job.id}': its legs are {names}"
                )
    missing = [key for key in wanted if key not in keys_seen]
    if missing and not dynamic:
        known = ", ".join(sorted(keys_seen)) or "none: no job that runs has a matrix"
        raise UsageError(
            f"--matrix {missing[0]}: no job that runs has a matrix key '{missing[0]}' "
            f"(keys: {known})"
        )


def _static_legs(job: Job) -> list[dict[str, Any]] | None:
    """The legs of a matrix written out in the file; None without one or for an expression."""
    if job.strategy is None or not isinstance(job.strategy.matrix, dict):
        return None
    if "${{" in repr(job.strategy.matrix):
        return None
    try:
        return expand_matrix(job.strategy.matrix)
    except MatrixError:
        return None  # reported when the job starts


def services_and_matrix(
    service_flags: list[str],
    config: str | None,
    matrix_flags: list[str],
    runs: list[tuple[Workflow, list[str] | None]],
    host_labels: HostLabels,
) -> tuple[dict[str, ServiceAddress], dict[str, list[str]] | None]:
    """What ``RunOptions.services`` and ``matrix_filter`` get; raises UsageError before
    anything runs. Warnings go to stderr."""
    import sys

    wanted = parse_matrix_filter(matrix_flags)
    if wanted is not None:
        check_matrix_filter(runs, wanted, host_labels)
    services = service_addresses(service_flags, config)
    for warning in check_services(runs, services, service_flags, host_labels):
        print(f"conveyor: warning: {warning}", file=sys.stderr)
    return services, wanted
