"""The workflows of a repository's default branch that can be run by hand (workflow_dispatch).

Read from the server's mirror of the repository as it is (a page view never
fetches: that is the triggers' job). A local repository not mirrored yet is
cloned on the spot (quick); a remote one offers nothing until its first fetch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from conveyor.server.repos import git
from conveyor.server.repos.models import Repository
from conveyor.server.runs import workspace
from conveyor.server.runs.services import workflow_files
from conveyor.workflow.errors import WorkflowInvalid
from conveyor.workflow.load import parse_workflow
from conveyor.workflow.model import DispatchInput


@dataclass
class DispatchableWorkflow:
    path: str
    name: str
    inputs: list[DispatchInput] = field(default_factory=list)


@dataclass
class MirrorView:
    """What the repository page offers from the mirror: branches and runnable workflows."""

    branches: list[str] = field(default_factory=list)
    workflows: list[str] = field(default_factory=list)
    dispatchable: list[DispatchableWorkflow] = field(default_factory=list)


def mirror_view(repository: Repository) -> MirrorView:
    mirror = workspace.mirror_path(repository)
    if not (mirror / "HEAD").exists():
        if not repository.is_local:
            return MirrorView()
        # A local repository not built yet: cloning it is quick, and lets a workflow run by hand.
        try:
            workspace.update_mirror(repository)
        except git.GitError:
            return MirrorView()
    try:
        refs = git.list_refs(mirror)
    except git.GitError:
        return MirrorView()
    view = MirrorView(
        branches=sorted(
            ref.removeprefix("refs/heads/") for ref in refs if ref.startswith("refs/heads/")
        )
    )
    head = refs.get(f"refs/heads/{repository.default_branch}")
    if head is None:
        return view
    view.workflows = workflow_files(str(mirror), head)
    for path in view.workflows:
        try:
            workflow = parse_workflow(git.read_file(mirror, head, path), path)
        except (WorkflowInvalid, git.GitError):
            continue  # an invalid workflow cannot be dispatched; its runs say why
        if "workflow_dispatch" in workflow.on.events:
            view.dispatchable.append(
                DispatchableWorkflow(path, workflow.display_name, list(workflow.on.inputs.values()))
            )
    return view
