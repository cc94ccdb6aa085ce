"""``actions/upload-artifact`` and ``actions/download-artifact`` (v3 to v7), natively.

Upload: the job's own ``python3`` gathers the files ``path:`` names into one archive
in ``runner.temp`` (inside its sandbox on the server: a link in the paths reaches
only what the job may read); the engine takes that archive without following links
and keeps it in the run's artifact store (``artifact_store.py``). Download: the
engine copies archives into ``runner.temp`` and the job unpacks them.

As on GitHub since v4, an artifact's name is unique in a run (``overwrite: true``
replaces it), and one uploaded by a job is seen by the jobs that run after it.
"""

from __future__ import annotations

import fnmatch
import json
import os
from typing import Any

from conveyor.actions.action_inputs import ActionInputs
from conveyor.actions.action_steps import fail, log_index
from conveyor.actions.artifact_store import (
    Artifact,
    ArtifactError,
    artifact_url,
    check_name,
    format_size,
    run_artifacts,
)
from conveyor.actions.in_job import JOB_PYTHON, source
from conveyor.actions.runner_temp_files import (
    copy_into_runner_temp,
    new_name,
    open_from_runner_temp,
    remove_from_runner_temp,
)
from conveyor.engine.events import Status
from conveyor.engine.step_types import ActionHost, StepOutcome, StepScope
from conveyor.workflow.model import Step

UPLOAD_INPUTS = {
    "name": "artifact",
    "path": "",
    "if-no-files-found": "warn",
    "retention-days": "0",
    "compression-level": "6",
    "overwrite": "false",
    "include-hidden-files": "false",
    "archive": "true",
}
DOWNLOAD_INPUTS = {
    "name": "",
    "pattern": "",
    "path": "",
    "merge-multiple": "false",
    "artifact-ids": "",
    "github-token": "",
    "repository": "",
    "run-id": "",
}
MAX_RETENTION_DAYS = 90


# The job's own python3 (setup-python's, or the system's) runs the in-job programs.


def run_upload_artifact(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
) -> StepOutcome:
    index = log_index(step, scope)
    inputs = ActionInputs(host, step, scope, contexts, UPLOAD_INPUTS)
    patterns = inputs.lines("path")
    if not patterns:
        raise inputs.problem("input 'path' is required: the files, directories or globs to upload")
    name = inputs.text("name")
    if_none = inputs.choice("if-no-files-found", ("warn", "error", "ignore"))
    retention = inputs.integer("retention-days", 0)
    if retention > MAX_RETENTION_DAYS:
        host.warn(index, f"retention-days {retention} is more than {MAX_RETENTION_DAYS}; kept 90")
        retention = MAX_RETENTION_DAYS
    level = inputs.integer("compression-level", 0, 9)
    overwrite = inputs.toolkit_boolean("overwrite")
    include_hidden = inputs.toolkit_boolean("include-hidden-files")
    archive = inputs.toolkit_boolean("archive")
    store = run_artifacts(host.options)
    if archive:
        problem = check_name(name)
        if problem:
            raise inputs.problem(problem)
        taken = store.taken(name)
        if taken and not overwrite:
            return fail(host, step, scope, f"{step.uses}: {taken}")

    output = new_name(".tar.gz")
    spec = {
        "patterns": patterns,
        "cwd": host.workspace,
        "include_hidden": include_hidden,
        "level": level,
        "output": os.path.join(host.runner_temp, output),
    }
    env = {**host.env_context(scope), **step_env}
    gathered = host.run_process(
        step, scope, [JOB_PYTHON, "-c", source("gather_artifact"), json.dumps(spec)], env
    )
    if gathered.outcome != Status.SUCCESS:
        remove_from_runner_temp(host.runner_temp, output)
        return _in_job_failure(gathered, "gathering the files to upload")
    count = int(gathered.outputs.get("files", "0") or 0)
    if count == 0:
        remove_from_runner_temp(host.runner_temp, output)
        message = f"No files were found with the provided path: {' '.join(patterns)}. "
        if if_none == "error":
            return fail(host, step, scope, message + "No artifacts will be uploaded.")
        if if_none == "warn":
            host.warn(index, message + "No artifacts will be uploaded.")
        else:
            host.log_line(index, message + "No artifacts will be uploaded.")
        return StepOutcome(Status.SUCCESS)
    if not archive:
        if count != 1:
            remove_from_runner_temp(host.runner_temp, output)
            return fail(
                host,
                step,
                scope,
                f"{step.uses}: archive: false uploads exactly one file; {count} were found",
            )
        # The artifact is named after its one file, as GitHub's unarchived uploads are.
        name = os.path.basename(gathered.outputs.get("first", "")) or name
        problem = check_name(name)
        if problem:
            remove_from_runner_temp(host.runner_temp, output)
            return fail(host, step, scope, f"{step.uses}: {problem}")
        taken = store.taken(name)
        if taken and not overwrite:
            remove_from_runner_temp(host.runner_temp, output)
            return fail(host, step, scope, f"{step.uses}: {taken}")
    with open_from_runner_temp(host.runner_temp, output) as fd:
        if fd is None:
            return fail(
                host, step, scope, f"{step.uses}: the files gathered for upload went missing"
            )
        try:
            artifact = store.add(
                name,
                fd,
                overwrite=overwrite,
                files=count,
                job_key=host.job_key,
                retention_days=retention or None,
            )
        except ArtifactError as error:
            return fail(host, step, scope, f"{step.uses}: {error}")
    url = artifact_url(host.options, artifact)
    host.log_line(
        index,
        f"Artifact {artifact.name} ({artifact.files} file(s), {format_size(artifact.size)}) "
        f"kept as {artifact.path}",
    )
    host.log_line(index, f"Artifact ID {artifact.id}, digest sha256:{artifact.digest}")
    return StepOutcome(
        Status.SUCCESS,
        outputs={
            "artifact-id": str(artifact.id),
            "artifact-url": url,
            "artifact-digest": artifact.digest,
        },
    )


def run_download_artifact(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
) -> StepOutcome:
    index = log_index(step, scope)
    inputs = ActionInputs(host, step, scope, contexts, DOWNLOAD_INPUTS)
    run_id = inputs.text("run-id")
    if run_id and run_id != str(host.options.run_id):
        raise inputs.problem(
            f"run-id {run_id}: only this run's artifacts (run {host.options.run_id}) can be "
            "downloaded; artifacts of other runs are not shared"
        )
    repository = inputs.text("repository")
    own = str(contexts.get("github", {}).get("repository", ""))
    if repository and repository.lower() != own.lower():
        raise inputs.problem(
            f"repository {repository}: only this repository's artifacts ({own}) can be downloaded"
        )
    name = inputs.text("name")
    ids_text = inputs.text("artifact-ids")
    if name and ids_text:
        raise inputs.problem("give either 'name' or 'artifact-ids', not both")
    store = run_artifacts(host.options)
    available = store.list()
    chosen = _choose(inputs, available, name, ids_text)
    if isinstance(chosen, str):
        return fail(host, step, scope, f"Unable to download artifact(s): {chosen}")

    destination = _destination(host, inputs.text("path"))
    merge = inputs.toolkit_boolean("merge-multiple")
    single = bool(name) or (len(chosen) == 1 and bool(ids_text))
    items = []
    try:
        for artifact in chosen:
            copied = copy_into_runner_temp(host.runner_temp, artifact.path, ".tar.gz")
            into = destination if single or merge else os.path.join(destination, artifact.name)
            items.append({"name": artifact.name, "archive": copied, "destination": into})
        if not items:
            host.log_line(index, "No artifacts to download.")
            return StepOutcome(Status.SUCCESS, outputs={"download-path": destination})
        env = {**host.env_context(scope), **step_env}
        spec = json.dumps({"items": items})
        unpacked = host.run_process(
            step, scope, [JOB_PYTHON, "-c", source("extract_artifacts"), spec], env
        )
    finally:
        for item in items:
            remove_from_runner_temp(host.runner_temp, os.path.basename(item["archive"]))
    if unpacked.outcome != Status.SUCCESS:
        return _in_job_failure(unpacked, "unpacking the artifacts")
    return StepOutcome(Status.SUCCESS, outputs={"download-path": destination})


def _in_job_failure(outcome: StepOutcome, what: str) -> StepOutcome:
    reason = outcome.reason or f"{what} failed"
    if reason.startswith("cannot start"):
        reason += f" ({what} runs the job's {JOB_PYTHON})"
    return StepOutcome(outcome.outcome, exit_code=outcome.exit_code, reason=reason)


def _choose(
    inputs: ActionInputs, available: list[Artifact], name: str, ids_text: str
) -> list[Artifact] | str:
    """The artifacts asked for, or why they cannot be had."""
    if name:
        for artifact in available:
            if artifact.name == name:
                return [artifact]
        known = ", ".join(a.name for a in available) or "none yet"
        return f"Artifact not found for name: {name} (this run's artifacts: {known})"
    if ids_text:
        wanted = []
        for part in ids_text.split(","):
            part = part.strip()
            if not part.isdigit():
                raise inputs.problem(f"artifact-ids: {part!r} is not an artifact id")
            wanted.append(int(part))
        by_id = {artifact.id: artifact for artifact in available}
        missing = [str(i) for i in wanted if i not in by_id]
        if missing:
            return f"no artifact with id {', '.join(missing)} in this run"
        return [by_id[i] for i in wanted]
    pattern = inputs.text("pattern")
    if pattern:
        return [a for a in available if fnmatch.fnmatchcase(a.name, pattern)]
    return available


def _destination(host: ActionHost, path: str) -> str:
    if not path:
        return host.workspace
    path = os.path.expanduser(path)
    return os.path.normpath(os.path.join(host.workspace, path))
