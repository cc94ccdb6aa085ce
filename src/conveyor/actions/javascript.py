"""JavaScript actions (``runs.using: node12|node16|node20|node24``), run with this machine's node.

As GitHub's runner runs them: each input is ``INPUT_<NAME>`` (declared defaults
included), the process runs in the workspace like a ``run:`` step (its log, masking,
workflow commands, GITHUB_OUTPUT/ENV/PATH/STATE files), what ``pre`` and ``main``
save with GITHUB_STATE reaches the later phases as ``STATE_<name>``, and ``post``
runs at the job's end as a step of its own ("Post <step>") when ``post-if`` (default
``always()``) holds. ``GITHUB_ACTION_PATH``, ``GITHUB_ACTION_REPOSITORY`` and
``GITHUB_ACTION_REF`` say which action runs.

``pre`` runs right before ``main``, in the step's own log, not at the job's start as
on GitHub: the job's steps are numbered by their place in the workflow (events,
database rows, the run page), and a "Pre" step in front of them would move them all;
post steps can follow them without that. What differs is only the moment: a ``pre``
that must run before an earlier step of the job (rare) runs later here.

Every JavaScript runtime runs on the one ``node`` found on PATH: GitHub's runner
brings its own node per runtime; this machine has what it has.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from conveyor.actions.action_steps import fail, log_index
from conveyor.actions.inputs import action_inputs, input_variable
from conveyor.actions.resolve import Resolved
from conveyor.engine import evaluation
from conveyor.engine.evaluation import EngineProblem
from conveyor.engine.events import Status
from conveyor.engine.step_types import ActionHost, PostStep, StepOutcome, StepScope
from conveyor.records import replace
from conveyor.workflow.expressions import JobStatus
from conveyor.workflow.model import Step


def run_javascript(
    host: ActionHost,
    step: Step,
    scope: StepScope,
    contexts: dict[str, Any],
    step_env: dict[str, str],
    resolved: Resolved,
    action_path: str,
) -> StepOutcome:
    """Run ``resolved`` (a JavaScript action whose files the job sees at ``action_path``)."""
    action = resolved.action
    assert action is not None and action.javascript is not None
    runs = action.javascript
    index = log_index(step, scope)
    where = step.positions.get("uses", step.position)
    uses = (step.uses or "").strip()
    env = {**host.env_context(scope), **step_env}
    node = _find_node(env.get("PATH") or host.options.base_env.get("PATH") or os.defpath)
    if node is None:
        return fail(
            host,
            step,
            scope,
            f"{where}: {uses}: JavaScript actions ({action.using}) run with node, and no "
            "node was found on PATH; install Node.js (e.g. apt-get install nodejs)",
        )
    try:
        inputs = action_inputs(host, step, action, contexts, index)
    except EngineProblem as problem:
        return fail(host, step, scope, str(problem))
    env.update({input_variable(name): str(value) for name, value in inputs.items()})
    env["GITHUB_ACTION_REPOSITORY"] = resolved.repository
    env["GITHUB_ACTION_REF"] = resolved.ref
    # GITHUB_ACTION_PATH comes from the scope (the engine keeps GITHUB_* its own).
    action_scope = replace(scope, action_path=action_path)
    state: dict[str, str] = {}

    def run_phase(file: str, log_index: int | None = None) -> StepOutcome:
        phase_env = {**env, **{f"STATE_{name}": value for name, value in state.items()}}
        argv = [node, os.path.join(action_path, file)]
        outcome = host.run_process(step, action_scope, argv, phase_env, log_index=log_index)
        state.update(outcome.state)
        return outcome

    if runs.pre is not None:
        status = JobStatus(failed=scope.failed, cancelled=False)
        try:
            run_pre = evaluation.condition(runs.pre_if, contexts, status, action.position)
        except EngineProblem as problem:
            return fail(host, step, scope, str(problem))
        if run_pre:
            pre = run_phase(runs.pre)
            if pre.outcome != Status.SUCCESS:
                if pre.reason is None and pre.exit_code is not None:
                    pre.reason = f"the pre phase of {uses} failed with exit code {pre.exit_code}"
                return pre
    if runs.post is not None:
        post_file = runs.post
        host.add_post_step(
            PostStep(
                step.display_name,
                lambda post_index: run_phase(post_file, post_index),
                runs.post_if,
            )
        )
    main = run_phase(runs.main)
    main.state = dict(state)
    return main


def _find_node(path: str) -> str | None:
    return shutil.which("node", path=path)
