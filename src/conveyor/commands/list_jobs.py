"""``conveyor list``: the jobs and steps an event would run, without running them."""

from __future__ import annotations

import argparse

from conveyor.cli import EXIT_INVALID, EXIT_OK
from conveyor.commands.selection import report_invalid, select
from conveyor.workflow.matrix import MatrixError, expand_matrix, matrix_job_name
from conveyor.workflow.model import Job


def _job_keys(job: Job) -> list[str]:
    name = job.name or job.id
    matrix = job.strategy.matrix if job.strategy else None
    if matrix is None:
        return [name]
    if isinstance(matrix, str):
        return [f"{name} (matrix from {matrix.strip()})"]
    try:
        return [matrix_job_name(name, values) for values in expand_matrix(matrix)]
    except MatrixError as error:
        return [f"{name} (matrix: {error})"]


def list_command(args: argparse.Namespace) -> int:
    selection = select(args.workflow, args.event)
    print(f"event: {args.event}  ref: {selection.event.ref}")
    for workflow in selection.chosen:
        print(f"\n{workflow.path}: {workflow.display_name}")
        for job in workflow.jobs.values():
            needs = f"  needs: {', '.join(job.needs)}" if job.needs else ""
            condition = f"  if: {job.if_}" if job.if_ else ""
            print(f"  job {job.id}{needs}{condition}")
            for key in _job_keys(job):
                if key != (job.name or job.id) or job.name:
                    print(f"    runs as: {key}")
            if job.uses is not None:
                print(f"    calls: {job.uses} (its jobs run as {job.id} / <job>)")
            for number, step in enumerate(job.steps, start=1):
                condition = f"  (if: {step.if_})" if step.if_ else ""
                print(f"    {number}. {step.display_name}{condition}")
    for workflow, why in selection.passed_over:
        print(f"\n{workflow.path}: not run on {args.event}: {why}")
    report_invalid(selection.invalid)
    return EXIT_INVALID if selection.invalid else EXIT_OK
