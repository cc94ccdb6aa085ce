"""A composed ``action.yml`` to a validated ``CompositeAction``."""

from __future__ import annotations

from typing import Any

import yaml

from conveyor.workflow.model import JAVASCRIPT_RUNTIMES, CompositeAction, JavaScriptRuns
from conveyor.workflow.parse_base import Checker
from conveyor.workflow.parse_steps import parse_steps
from conveyor.workflow.parse_triggers import parse_inputs
from conveyor.workflow.yamlsource import is_mapping, is_scalar, kind_of

ACTION_KEYS = ("name", "author", "description", "inputs", "outputs", "runs", "branding")


def parse_action_document(checker: Checker, root: yaml.Node) -> CompositeAction:
    action = CompositeAction(path=checker.source.path, position=checker.at(root))
    if not is_mapping(root):
        checker.problem(root, f"the top level of an action must be a mapping, got {kind_of(root)}")
        return action
    fields = checker.fields(root, "the action", ACTION_KEYS)
    if fields is None:
        return action
    if "name" in fields:
        action.name = checker.text(fields["name"].value, "'name'", expressions=False)
    if "description" in fields:
        action.description = checker.text(
            fields["description"].value, "'description'", expressions=False
        )
    if "inputs" in fields:
        action.inputs = parse_inputs(
            checker, fields["inputs"].value, "action", (), extra_keys=("deprecationMessage",)
        )
    if "branding" in fields:
        checker.fields(fields["branding"].value, "'branding'", ["icon", "color"])
    if checker.require(fields, "runs", root, "the action"):
        _runs(checker, action, fields["runs"].value)
    if "outputs" in fields:
        _outputs(checker, action, fields["outputs"].value)
    return action


def _outputs(checker: Checker, action: CompositeAction, node: yaml.Node) -> None:
    # Only a composite action computes its outputs from a `value`; a JavaScript or
    # Docker action's are set by its process and merely described here.
    composite = action.using == "composite"
    for entry in checker.mapping(node, "'outputs'", allow_null=True) or []:
        what = f"output '{entry.key}'"
        output = checker.fields(entry.value, what, ["description", "value"], allow_null=True)
        if output is None:
            continue
        if not composite:
            action.outputs[entry.key] = ""
            continue
        if not checker.require(output, "value", entry.value, what):
            continue
        value = checker.text(output["value"].value, f"the value of {what}")
        if value is not None:
            action.outputs[entry.key] = value


_JAVASCRIPT_KEYS = ("using", "main", "pre", "post", "pre-if", "post-if")
_DOCKER_KEYS = (
    "using",
    "image",
    "args",
    "entrypoint",
    "env",
    "pre-entrypoint",
    "post-entrypoint",
    "pre-if",
    "post-if",
)


def _runs(checker: Checker, action: CompositeAction, node: yaml.Node) -> None:
    using_node = _value_of(node, "using")
    using = None
    if using_node is not None:
        using = checker.text(using_node, "'runs.using'", expressions=False)
    if using in JAVASCRIPT_RUNTIMES:
        known: tuple[str, ...] = _JAVASCRIPT_KEYS
    elif using == "docker":
        known = _DOCKER_KEYS
    elif using == "composite":
        known = ("using", "steps")
    else:  # unknown: that alone is reported
        known = tuple(dict.fromkeys(("steps", *_JAVASCRIPT_KEYS, *_DOCKER_KEYS)))
    fields = checker.fields(node, "'runs'", known)
    if fields is None or not checker.require(fields, "using", node, "'runs'"):
        return
    if using is None:
        return
    if using in JAVASCRIPT_RUNTIMES:
        action.using = using
        action.javascript = _javascript(checker, fields, node)
        return
    if using == "docker":
        action.using = using
        if checker.require(fields, "image", node, "a Docker action's 'runs'"):
            action.docker_image = checker.text(
                fields["image"].value, "'runs.image'", expressions=False
            )
        return
    if using != "composite":
        checker.problem(
            fields["using"].value,
            f"unknown 'runs.using: {using}' (expected composite, docker or one of "
            f"{', '.join(JAVASCRIPT_RUNTIMES)})",
        )
        return
    if checker.require(fields, "steps", node, "a composite action's 'runs'"):
        action.steps = parse_steps(checker, fields["steps"].value, "the action", composite=True)


def _javascript(checker: Checker, fields: dict[str, Any], node: yaml.Node) -> JavaScriptRuns | None:
    if not checker.require(fields, "main", node, "a JavaScript action's 'runs'"):
        return None
    files: dict[str, str | None] = {}
    for key in ("main", "pre", "post"):
        files[key] = None
        if key in fields:
            files[key] = checker.text(fields[key].value, f"'runs.{key}'", expressions=False)
    if files["main"] is None:
        return None
    runs = JavaScriptRuns(main=files["main"], pre=files["pre"], post=files["post"])
    for key in ("pre-if", "post-if"):
        if key in fields:
            condition = checker.condition(fields[key].value, f"'runs.{key}'")
            if condition is not None:
                setattr(runs, key.replace("-", "_"), condition)
    return runs


def _value_of(node: yaml.Node, key: str) -> yaml.Node | None:
    if not is_mapping(node):
        return None
    for key_node, value in node.value:
        if is_scalar(key_node) and key_node.value == key:
            return value
    return None
