"""``conveyor validate``: check workflow files without running anything."""

from __future__ import annotations

import argparse
import os
import sys

from conveyor.cli import EXIT_INVALID, EXIT_OK, UsageError
from conveyor.commands import plural
from conveyor.commands.selection import load_all
from conveyor.workflow.discovery import NoWorkflow, discover, find_repository_root


def validate_command(args: argparse.Namespace) -> int:
    root = find_repository_root(os.getcwd())
    try:
        paths, _ = discover(root, args.files or None)
    except NoWorkflow as error:
        raise UsageError(str(error)) from None
    workflows, invalid = load_all(paths, root)
    for error in invalid.values():
        print(str(error), file=sys.stderr)
    for workflow in workflows:
        jobs = len(workflow.jobs)
        steps = sum(len(job.steps) for job in workflow.jobs.values())
        print(f"{workflow.path}: valid ({plural(jobs, 'job')}, {plural(steps, 'step')})")
    problems = sum(len(error.problems) for error in invalid.values())
    if problems:
        print(f"conveyor: {plural(problems, 'problem')} found", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK
