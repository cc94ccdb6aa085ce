"""Steps (of a job or of a composite action), shells and ``uses:`` references."""

from __future__ import annotations

import posixpath
import re

import yaml

from conveyor.workflow.model import RunDefaults, Step
from conveyor.workflow.parse_base import Checker, suggestion
from conveyor.workflow.yamlsource import is_scalar, is_sequence, kind_of

STEP_KEYS = (
    "id",
    "name",
    "if",
    "run",
    "uses",
    "with",
    "shell",
    "env",
    "working-directory",
    "continue-on-error",
    "timeout-minutes",
)
# GitHub's composite actions accept no timeout on their steps.
COMPOSITE_STEP_KEYS = tuple(key for key in STEP_KEYS if key != "timeout-minutes")

STEP_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
ENV_NAME = re.compile(r"[^=\0]+")

SHELLS = ("bash", "sh", "python")
FOREIGN_SHELLS = ("pwsh", "powershell", "cmd")

_REMOTE_ACTION = re.compile(r"(?P<repo>[^/@\s]+/[^/@\s]+)(?:/[^@\s]*)?@(?P<ref>\S+)")
_DOCKER_IMAGE = re.compile(r"[a-z0-9][^\s]*")


def check_shell(checker: Checker, node: yaml.Node, what: str) -> str | None:
    shell = checker.text(node, what, expressions=False)
    if shell is None:
        return None
    name = shell.split()[0] if shell.split() else ""
    if name in FOREIGN_SHELLS:
        checker.problem(node, f"shell '{shell}' is not supported on this host")
        return None
    if shell in SHELLS or "{0}" in shell:
        return shell
    checker.problem(
        node,
        f"unknown shell '{shell}': use bash, sh, python, or a command containing "
        "'{0}' for the script file",
    )
    return None


def parse_defaults(checker: Checker, node: yaml.Node, what: str) -> RunDefaults:
    result = RunDefaults()
    fields = checker.fields(node, f"{what} 'defaults'", ["run"])
    if not fields or "run" not in fields:
        return result
    run = checker.fields(
        fields["run"].value, f"{what} 'defaults.run'", ["shell", "working-directory"]
    )
    if not run:
        return result
    if "shell" in run:
        result.shell = check_shell(checker, run["shell"].value, "'defaults.run.shell'")
    if "working-directory" in run:
        result.working_directory = checker.text(
            run["working-directory"].value, "'defaults.run.working-directory'"
        )
    return result


def check_uses(checker: Checker, node: yaml.Node) -> str | None:
    uses = checker.text(node, "'uses'", expressions=False)
    if uses is None:
        return None
    outside = _outside_repository(uses)
    if outside is not None:
        checker.problem(
            node,
            f"uses: {uses} points outside the repository ({outside}); a local action "
            "is ./path to a directory inside the repository",
        )
        return None
    if uses.startswith("./"):
        # The directory may appear only after a checkout step, so it is read at run time.
        return uses
    if uses.startswith("docker://"):
        if not _DOCKER_IMAGE.fullmatch(uses[len("docker://") :]):
            checker.problem(node, f"uses: {uses!r} names no Docker image (docker://image[:tag])")
            return None
        return uses
    if _REMOTE_ACTION.fullmatch(uses) is None:
        checker.problem(
            node,
            f"uses: {uses!r} is not a valid action reference "
            "(expected ./path, owner/repo[/path]@ref or docker://image)",
        )
        return None
    # Whether it can be fetched, and what kind of action it is, is known at run time.
    return uses


def _outside_repository(uses: str) -> str | None:
    """Why a path-like ``uses:`` leaves the repository, or None if it does not."""
    if uses.startswith("/"):
        return "an absolute path"
    if uses.startswith("~"):
        return "a home directory"
    normal = posixpath.normpath(uses)
    if normal == ".." or normal.startswith("../"):
        return f"it goes up to {normal}"
    return None


def parse_steps(
    checker: Checker, node: yaml.Node, where: str, composite: bool = False
) -> list[Step]:
    """The ``steps:`` list of a job (``where`` is e.g. "job 'build'")."""
    if not is_sequence(node):
        checker.problem(node, f"'steps' of {where} must be a list, got {kind_of(node)}")
        return []
    if not node.value:
        checker.problem(node, f"'steps' of {where} must contain at least one step")
    steps: list[Step] = []
    ids: dict[str, yaml.Node] = {}
    for index, item in enumerate(node.value):
        step = _parse_step(checker, item, index, where, composite)
        if step is None:
            continue
        if step.id is not None:
            id_node = _key_value(checker, item, "id")
            if step.id in ids:
                first = checker.at(ids[step.id])
                checker.problem(
                    id_node or item,
                    f"duplicate step id '{step.id}' in {where} (first used at line {first.line})",
                )
            else:
                ids[step.id] = id_node or item
        steps.append(step)
    return steps


def _misspelt(node: yaml.Node, keys: tuple[str, ...]) -> bool:
    """Whether an unknown key was already reported as a misspelling of one of ``keys``."""
    return any(
        suggestion(key_node.value, keys) and key_node.value not in STEP_KEYS
        for key_node, _ in node.value
        if is_scalar(key_node)
    )


def _key_value(checker: Checker, node: yaml.Node, key: str) -> yaml.Node | None:
    for key_node, value in node.value:
        if is_scalar(key_node) and key_node.value == key:
            return value
    return None


def _parse_step(
    checker: Checker, node: yaml.Node, index: int, where: str, composite: bool
) -> Step | None:
    what = f"step {index + 1} of {where}"
    fields = checker.fields(node, what, COMPOSITE_STEP_KEYS if composite else STEP_KEYS)
    if fields is None:
        return None
    step = Step(index=index, position=checker.at(node))
    step.positions = {key: checker.at(entry.value) for key, entry in fields.items()}
    if "run" in fields and "uses" in fields:
        checker.problem(fields["uses"].key_node, f"{what} has both 'run' and 'uses'; pick one")
    elif "run" not in fields and "uses" not in fields and not _misspelt(node, ("run", "uses")):
        checker.problem(node, f"{what} needs either 'run' or 'uses'")
    for key, entry in fields.items():
        value = entry.value
        if key == "id":
            step.id = checker.text(value, f"'id' of {what}", expressions=False)
            if step.id is not None and not STEP_ID.fullmatch(step.id):
                checker.problem(
                    value,
                    f"invalid step id '{step.id}': it must start with a letter or '_' and "
                    "contain only letters, digits, '-' and '_'",
                )
        elif key == "name":
            step.name = checker.text(value, f"'name' of {what}")
        elif key == "if":
            step.if_ = checker.condition(value, f"'if' of {what}")
        elif key == "run":
            step.run = checker.text(value, f"'run' of {what}")
        elif key == "uses":
            step.uses = check_uses(checker, value)
        elif key == "with":
            step.with_, _ = checker.string_map(value, f"'with' of {what}")
        elif key == "shell":
            step.shell = check_shell(checker, value, f"'shell' of {what}")
        elif key == "env":
            step.env, _ = checker.string_map(value, f"'env' of {what}", ENV_NAME)
        elif key == "working-directory":
            step.working_directory = checker.text(value, f"'working-directory' of {what}")
        elif key == "continue-on-error":
            flag = checker.boolean(value, f"'continue-on-error' of {what}")
            step.continue_on_error = False if flag is None else flag
        elif key == "timeout-minutes":
            step.timeout_minutes = checker.number(value, f"'timeout-minutes' of {what}", minimum=0)
    if composite and "run" in fields and "shell" not in fields:
        checker.problem(node, f"{what} runs a command, so it needs 'shell' in a composite action")
    return step
