"""``conveyor validate``: check workflow files without running anything."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conveyor.cli import EXIT_INVALID, EXIT_OK, UsageError
from conveyor.commands import plural
from conveyor.workflow.discovery import NoWorkflow, discover, display_path, find_repository_root
from conveyor.workflow.errors import WorkflowInvalid
from conveyor.workflow.load import check_local_actions, load_workflow


def validate_command(args: argparse.Namespace) -> int:
    root = find_repository_root(Path.cwd())
    try:
        paths, _ = discover(root, args.files or None)
    except NoWorkflow as error:
        raise UsageError(str(error)) from None
    problems = 0
    for path in paths:
        shown = display_path(path, root)
        try:
            workflow = load_workflow(path, shown)
        except WorkflowInvalid as invalid:
            print(str(invalid), file=sys.stderr)
            problems += len(invalid.problems)
            continue
        missing = check_local_actions(workflow, root)
        if missing:
            print(str(WorkflowInvalid(missing)), file=sys.stderr)
            problems += len(missing)
            continue
        jobs = len(workflow.jobs)
        steps = sum(len(job.steps) for job in workflow.jobs.values())
        print(f"{shown}: valid ({plural(jobs, 'job')}, {plural(steps, 'step')})")
    if problems:
        print(f"conveyor: {plural(problems, 'problem')} found", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK
