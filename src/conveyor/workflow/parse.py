"""A composed YAML document to a validated ``Workflow``: top level, jobs and the needs graph."""

from __future__ import annotations

import re
from pathlib import PurePath

import yaml

from conveyor.workflow import matrix as matrix_module
from conveyor.workflow.errors import Position
from conveyor.workflow.model import (
    Concurrency,
    Environment,
    EventFilter,
    Job,
    Strategy,
    Triggers,
    Workflow,
)
from conveyor.workflow.parse_base import Checker, suggestion
from conveyor.workflow.parse_services import parse_container, parse_services
from conveyor.workflow.parse_steps import ENV_NAME, parse_defaults, parse_steps
from conveyor.workflow.parse_triggers import parse_on
from conveyor.workflow.schema_events import PERMISSION_SCOPES, PERMISSION_SHORTHANDS
from conveyor.workflow.yamlsource import (
    Entry,
    is_mapping,
    is_null,
    is_scalar,
    is_sequence,
    kind_of,
)

WORKFLOW_KEYS = ("name", "run-name", "on", "permissions", "env", "defaults", "concurrency", "jobs")

JOB_KEYS = (
    "name",
    "needs",
    "if",
    "runs-on",
    "environment",
    "outputs",
    "env",
    "defaults",
    "timeout-minutes",
    "continue-on-error",
    "strategy",
    "concurrency",
    "permissions",
    "steps",
    "container",
    "services",
)
# A job that calls a reusable workflow (``uses:``) takes only these, as on GitHub.
CALLER_JOB_KEYS = (
    "name",
    "uses",
    "with",
    "secrets",
    "strategy",
    "needs",
    "if",
    "concurrency",
    "permissions",
)
CALL_ONLY_KEYS = ("uses", "with", "secrets")
_NOT_YET = "is not supported yet"
UNSUPPORTED_JOB_KEYS = {
    "snapshot": f"'snapshot' {_NOT_YET}",
}

# In the seed's shorthand the top level is also the one job, so job keys are accepted there.
SHORTHAND_JOB_KEYS = (
    "runs-on",
    "if",
    "environment",
    "outputs",
    "timeout-minutes",
    "continue-on-error",
    "strategy",
    "steps",
    "container",
    "services",
)
SHORTHAND_JOB_ID = "pipeline"
_SHORTHAND_UNSUPPORTED = {
    **UNSUPPORTED_JOB_KEYS,
    **{
        key: f"'{key}' belongs to a job that calls a reusable workflow; put that job under 'jobs:'"
        for key in CALL_ONLY_KEYS
    },
}

# Files only Conveyor reads; without ``on:`` they run on push and on demand, like the shorthand.
CONVEYOR_FILES = frozenset({".conveyor.yml", "conveyor.yml", ".conveyor.yaml", "conveyor.yaml"})

JOB_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def parse_document(checker: Checker, root: yaml.Node) -> Workflow:
    """Build the workflow; problems go to ``checker.problems``."""
    workflow = Workflow(path=checker.source.path, position=checker.at(root))
    if not is_mapping(root):
        checker.problem(
            root, f"the top level of a workflow must be a mapping of keys, got {kind_of(root)}"
        )
        return workflow
    keys = {key_node.value for key_node, _ in root.value if is_scalar(key_node)}
    shorthand = "steps" in keys and "jobs" not in keys
    known = WORKFLOW_KEYS + SHORTHAND_JOB_KEYS if shorthand else WORKFLOW_KEYS
    unsupported = _SHORTHAND_UNSUPPORTED if shorthand else None
    fields = checker.fields(root, "the workflow", known, unsupported=unsupported)
    if fields is None:
        return workflow
    workflow.positions = {key: checker.at(entry.value) for key, entry in fields.items()}
    workflow.shorthand = shorthand
    _parse_workflow_keys(checker, workflow, fields)
    if "on" not in fields and (shorthand or is_conveyor_file(workflow.path)):
        workflow.on = Triggers(events={"push": EventFilter(), "workflow_dispatch": EventFilter()})
    if shorthand:
        job = Job(id=SHORTHAND_JOB_ID, position=checker.at(fields["steps"].key_node))
        job.name = workflow.name or SHORTHAND_JOB_ID
        job_fields = {key: fields[key] for key in SHORTHAND_JOB_KEYS if key in fields}
        _parse_job_keys(checker, job, job_fields, "the workflow")
        workflow.jobs = {job.id: job}
    else:
        if not is_conveyor_file(workflow.path):
            checker.require(fields, "on", root, "the workflow")
        checker.require(fields, "jobs", root, "the workflow")
        if "jobs" in fields:
            workflow.jobs = _parse_jobs(checker, fields["jobs"].value)
            _check_needs(checker, workflow.jobs)
    return workflow


def is_conveyor_file(path: str) -> bool:
    """Conveyor's own file (not one GitHub reads), where ``on`` may be left out."""
    return PurePath(path).name in CONVEYOR_FILES


def _parse_workflow_keys(checker: Checker, workflow: Workflow, fields: dict[str, Entry]) -> None:
    if "name" in fields:
        workflow.name = checker.text(fields["name"].value, "'name'", expressions=False)
    if "run-name" in fields:
        workflow.run_name = checker.text(fields["run-name"].value, "'run-name'")
    if "on" in fields:
        workflow.on = parse_on(checker, fields["on"].value)
    if "permissions" in fields:
        workflow.permissions = parse_permissions(checker, fields["permissions"].value)
    if "env" in fields:
        workflow.env, _ = checker.string_map(fields["env"].value, "'env'", ENV_NAME)
    if "defaults" in fields:
        workflow.defaults = parse_defaults(checker, fields["defaults"].value, "the workflow")
    if "concurrency" in fields:
        workflow.concurrency = parse_concurrency(checker, fields["concurrency"].value)


def parse_permissions(checker: Checker, node: yaml.Node) -> object:
    if is_scalar(node):
        value = checker.text(node, "'permissions'", expressions=False)
        if value is not None and value not in PERMISSION_SHORTHANDS:
            checker.problem(
                node, f"'permissions' must be read-all, write-all or a mapping, got {value!r}"
            )
        return value
    result: dict[str, str] = {}
    for entry in checker.mapping(node, "'permissions'") or []:
        if entry.key not in PERMISSION_SCOPES:
            hint = suggestion(entry.key, PERMISSION_SCOPES)
            checker.problem(entry.key_node, f"unknown permission '{entry.key}'{hint}")
            continue
        level = checker.text(entry.value, f"permission '{entry.key}'", expressions=False)
        allowed = PERMISSION_SCOPES[entry.key]
        if level is not None and level not in allowed:
            checker.problem(
                entry.value,
                f"permission '{entry.key}' must be one of {', '.join(allowed)}, got {level!r}",
            )
        elif level is not None:
            result[entry.key] = level
    return result


def parse_concurrency(checker: Checker, node: yaml.Node) -> Concurrency | None:
    if is_scalar(node):
        group = checker.text(node, "'concurrency'")
        return None if group is None else Concurrency(group=group)
    fields = checker.fields(node, "'concurrency'", ["group", "cancel-in-progress"])
    if fields is None or not checker.require(fields, "group", node, "'concurrency'"):
        return None
    group = checker.text(fields["group"].value, "'concurrency.group'")
    if group is None:
        return None
    result = Concurrency(group=group)
    if "cancel-in-progress" in fields:
        cancel = checker.boolean(fields["cancel-in-progress"].value, "'cancel-in-progress'")
        result.cancel_in_progress = False if cancel is None else cancel
    return result


def _parse_jobs(checker: Checker, node: yaml.Node) -> dict[str, Job]:
    jobs: dict[str, Job] = {}
    found = checker.mapping(node, "'jobs'")
    if found is None:
        return jobs
    if not found:
        checker.problem(node, "'jobs' must contain at least one job")
    for entry in found:
        if not JOB_ID.fullmatch(entry.key):
            checker.problem(
                entry.key_node,
                f"invalid job id '{entry.key}': it must start with a letter or '_' and contain "
                "only letters, digits, '-' and '_'",
            )
        where = f"job '{entry.key}'"
        job = Job(id=entry.key, position=checker.at(entry.key_node))
        if _has_key(entry.value, "uses"):
            fields = checker.fields(
                entry.value, where, CALLER_JOB_KEYS, unsupported=_caller_refusals(entry.key)
            )
        else:
            fields = checker.fields(entry.value, where, JOB_KEYS, unsupported=_NON_CALLER_REFUSALS)
            if fields is not None:
                for key in ("runs-on", "steps"):
                    checker.require(fields, key, entry.value, where, at=entry.key_node)
        if fields is not None:
            _parse_job_keys(checker, job, fields, where)
        jobs[entry.key] = job
    return jobs


_NON_CALLER_REFUSALS = {
    **UNSUPPORTED_JOB_KEYS,
    **{
        key: f"'{key}' is only for a job that calls a reusable workflow (jobs.<id>.uses)"
        for key in ("with", "secrets")
    },
}


def _caller_refusals(job_id: str) -> dict[str, str]:
    allowed = ", ".join(key for key in CALLER_JOB_KEYS if key != "uses")
    return {
        key: f"job '{job_id}' calls a reusable workflow (uses:), so it cannot have '{key}'; "
        f"beside 'uses' it may have {allowed}"
        for key in (*JOB_KEYS, *UNSUPPORTED_JOB_KEYS)
        if key not in CALLER_JOB_KEYS
    }


def _has_key(node: yaml.Node, key: str) -> bool:
    return is_mapping(node) and any(is_scalar(k) and k.value == key for k, _ in node.value)


def _parse_job_keys(checker: Checker, job: Job, fields: dict[str, Entry], where: str) -> None:
    job.positions.update({key: checker.at(entry.value) for key, entry in fields.items()})
    for key, entry in fields.items():
        value = entry.value
        if key == "name":
            job.name = checker.text(value, f"'name' of {where}")
        elif key == "needs":
            items = checker.string_list(value, f"'needs' of {where}", expressions=False)
            job.needs = [name for name, _ in items or []]
            checker.needs_nodes[job.id] = {name: node for name, node in items or []}
        elif key == "if":
            job.if_ = checker.condition(value, f"'if' of {where}")
        elif key == "runs-on":
            job.runs_on = _runs_on(checker, value, where)
        elif key == "environment":
            job.environment = _environment(checker, value, where)
        elif key == "outputs":
            job.outputs, _ = checker.string_map(value, f"'outputs' of {where}")
        elif key == "env":
            job.env, _ = checker.string_map(value, f"'env' of {where}", ENV_NAME)
        elif key == "defaults":
            job.defaults = parse_defaults(checker, value, where)
        elif key == "timeout-minutes":
            timeout = checker.number(value, f"'timeout-minutes' of {where}", minimum=0)
            if timeout is not None:
                job.timeout_minutes = timeout
        elif key == "continue-on-error":
            flag = checker.boolean(value, f"'continue-on-error' of {where}")
            job.continue_on_error = False if flag is None else flag
        elif key == "strategy":
            job.strategy = _strategy(checker, value, where)
        elif key == "concurrency":
            job.concurrency = parse_concurrency(checker, value)
        elif key == "permissions":
            parse_permissions(checker, value)
        elif key == "steps":
            job.steps = parse_steps(checker, value, where)
        elif key == "container":
            job.container = parse_container(checker, value, where)
        elif key == "services":
            job.services = parse_services(checker, value, where)
        elif key == "uses":
            job.uses = _call_reference(checker, value, where)
        elif key == "with":
            job.with_ = _call_inputs(checker, job, value, where)
        elif key == "secrets":
            job.secrets = _call_secrets(checker, job, value, where)


def _call_reference(checker: Checker, node: yaml.Node, where: str) -> str | None:
    uses = checker.text(node, f"'uses' of {where}", expressions=False)
    if uses is None:
        return None
    from conveyor.workflow import calls  # only for workflows that call others (start-up)

    if calls.parse_reference(uses) is None:
        checker.problem(
            node,
            f"'uses' of {where} must name a reusable workflow as {calls.SHAPES}, got {uses!r}",
        )
        return None
    return uses


def _call_inputs(checker: Checker, job: Job, node: yaml.Node, where: str) -> dict[str, object]:
    """``with:`` of a call: each value typed as written (checked against the input's type
    when the call runs, since it may be an expression)."""
    values: dict[str, object] = {}
    for entry in checker.mapping(node, f"'with' of {where}", allow_null=True) or []:
        what = f"'with.{entry.key}' of {where}"
        if not is_scalar(entry.value):
            checker.problem(entry.value, f"{what} must be a string, number or boolean")
            continue
        checker.text(entry.value, what, allow_null=True)  # checks its expressions
        values[entry.key] = checker.python(entry.value)
        job.positions[f"with.{entry.key}"] = checker.at(entry.value)
    return values


def _call_secrets(
    checker: Checker, job: Job, node: yaml.Node, where: str
) -> dict[str, str] | str | None:
    if is_scalar(node) and not is_null(node):
        if node.value != "inherit":
            checker.problem(
                node, f"'secrets' of {where} must be 'inherit' or a mapping, got {node.value!r}"
            )
            return None
        return "inherit"
    secrets, positions = checker.string_map(node, f"'secrets' of {where}")
    job.positions.update({f"secrets.{name}": at for name, at in positions.items()})
    return {name: str(value) for name, value in secrets.items()}


def _runs_on(checker: Checker, node: yaml.Node, where: str) -> object:
    """Any form GitHub allows is recorded; jobs run on this host whatever it says."""
    if is_mapping(node):
        fields = checker.fields(node, f"'runs-on' of {where}", ["group", "labels"])
        if fields is None:
            return None
    elif is_scalar(node):
        checker.text(node, f"'runs-on' of {where}")
    elif is_sequence(node):
        checker.string_list(node, f"'runs-on' of {where}")
    return checker.python(node)


def _environment(checker: Checker, node: yaml.Node, where: str) -> Environment | None:
    if is_scalar(node):
        name = checker.text(node, f"'environment' of {where}")
        return None if name is None else Environment(name=name)
    fields = checker.fields(node, f"'environment' of {where}", ["name", "url", "deployment"])
    if fields is None or not checker.require(fields, "name", node, f"'environment' of {where}"):
        return None
    name = checker.text(fields["name"].value, f"'environment.name' of {where}")
    if name is None:
        return None
    environment = Environment(name=name)
    if "url" in fields:
        environment.url = checker.text(fields["url"].value, f"'environment.url' of {where}")
    if "deployment" in fields:
        checker.boolean(fields["deployment"].value, f"'environment.deployment' of {where}")
    return environment


def _strategy(checker: Checker, node: yaml.Node, where: str) -> Strategy | None:
    what = f"'strategy' of {where}"
    fields = checker.fields(node, what, ["matrix", "fail-fast", "max-parallel"])
    if fields is None:
        return None
    strategy = Strategy()
    if "fail-fast" in fields:
        flag = checker.boolean(fields["fail-fast"].value, f"'fail-fast' of {where}")
        strategy.fail_fast = True if flag is None else flag
    if "max-parallel" in fields:
        strategy.max_parallel = checker.number(
            fields["max-parallel"].value, f"'max-parallel' of {where}", integer=True, minimum=1
        )
    if "matrix" in fields:
        strategy.matrix = _matrix(checker, fields["matrix"].value, where)
    return strategy


def _matrix(checker: Checker, node: yaml.Node, where: str) -> dict[str, object] | str | None:
    what = f"the matrix of {where}"
    if is_scalar(node) and "${{" in node.value:
        return checker.text(node, what)
    found = checker.mapping(node, what)
    if found is None:
        return None
    before = len(checker.problems)
    for entry in found:
        value = entry.value
        if entry.key in ("include", "exclude"):
            if is_scalar(value) and "${{" in value.value:
                pass  # an expression, checked below
            elif not is_sequence(value):
                checker.problem(
                    value, f"matrix '{entry.key}' must be a list of mappings, got {kind_of(value)}"
                )
            else:
                for item in value.value:
                    # An expression item may give one mapping or a list of them (spliced).
                    if not is_mapping(item) and not (is_scalar(item) and "${{" in item.value):
                        checker.problem(
                            item,
                            f"each item of matrix '{entry.key}' must be a mapping, "
                            f"got {kind_of(item)}",
                        )
        elif "${{" in entry.key and is_mapping(value):
            pass  # `${{ insert }}: {...}`: merged in when the matrix is evaluated
        elif not is_sequence(value) and not (is_scalar(value) and "${{" in value.value):
            checker.problem(
                value,
                f"matrix '{entry.key}' must be a list of values or an expression, "
                f"got {kind_of(value)}",
            )
        _check_nested_expressions(checker, entry.key_node)
        _check_nested_expressions(checker, value)
    if len(checker.problems) > before:
        return None
    matrix = checker.python(node)
    if not _contains_expression(matrix):
        try:
            matrix_module.expand_matrix(matrix)
        except matrix_module.MatrixError as error:
            checker.problem(node, f"invalid matrix in {where}: {error}")
    return matrix


def _check_nested_expressions(checker: Checker, node: yaml.Node) -> None:
    if is_scalar(node):
        if "${{" in node.value:
            checker.text(node, "a matrix value")
    elif is_sequence(node):
        for item in node.value:
            _check_nested_expressions(checker, item)
    elif is_mapping(node):
        for key, value in node.value:
            _check_nested_expressions(checker, key)
            _check_nested_expressions(checker, value)


def _contains_expression(value: object) -> bool:
    if isinstance(value, str):
        return "${{" in value
    if isinstance(value, dict):
        return any(_contains_expression(k) or _contains_expression(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_expression(item) for item in value)
    return False


def _check_needs(checker: Checker, jobs: dict[str, Job]) -> None:
    for job in jobs.values():
        nodes = checker.needs_nodes.get(job.id, {})
        for name in job.needs:
            if name not in jobs:
                position = checker.at(nodes[name]) if name in nodes else job.position
                hint = suggestion(name, [other for other in jobs if other != job.id])
                checker.problem_at(position, f"job '{job.id}' needs unknown job '{name}'{hint}")
    for cycle in _cycles(jobs):
        first = jobs[cycle[0]]
        path = " -> ".join([*cycle, cycle[0]])
        position: Position = first.positions.get("needs", first.position)
        checker.problem_at(position, f"jobs depend on each other in a cycle: {path}")


def _cycles(jobs: dict[str, Job]) -> list[list[str]]:
    """Each cycle of the needs graph once, starting at its earliest job in file order."""
    order = {name: index for index, name in enumerate(jobs)}
    done: set[str] = set()
    found: list[list[str]] = []
    seen_cycles: set[frozenset[str]] = set()
    for root in jobs:
        if root in done:
            continue
        # Iterative depth-first search: a long chain of needs must not exhaust the stack.
        path: list[str] = [root]
        on_path = {root}
        pending: list[list[str]] = [[n for n in jobs[root].needs if n in jobs]]
        while path:
            if not pending[-1]:
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                pending.pop()
                continue
            needed = pending[-1].pop(0)
            if needed in on_path:
                cycle = path[path.index(needed) :]
                if frozenset(cycle) not in seen_cycles:
                    seen_cycles.add(frozenset(cycle))
                    start = min(range(len(cycle)), key=lambda i: order[cycle[i]])
                    found.append(cycle[start:] + cycle[:start])
            elif needed not in done:
                path.append(needed)
                on_path.add(needed)
                pending.append([n for n in jobs[needed].needs if n in jobs])
    return found
