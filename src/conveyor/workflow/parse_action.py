"""A composed ``action.yml`` to a validated ``CompositeAction``."""

from __future__ import annotations

import yaml

from conveyor.workflow.model import CompositeAction
from conveyor.workflow.parse_base import Checker
from conveyor.workflow.parse_steps import parse_steps
from conveyor.workflow.parse_triggers import parse_inputs
from conveyor.workflow.yamlsource import is_mapping, kind_of

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
    if "outputs" in fields:
        for entry in checker.mapping(fields["outputs"].value, "'outputs'") or []:
            what = f"output '{entry.key}'"
            output = checker.fields(entry.value, what, ["description", "value"])
            if output is None or not checker.require(output, "value", entry.value, what):
                continue
            value = checker.text(output["value"].value, f"the value of {what}")
            if value is not None:
                action.outputs[entry.key] = value
    if "branding" in fields:
        checker.fields(fields["branding"].value, "'branding'", ["icon", "color"])
    if checker.require(fields, "runs", root, "the action"):
        _runs(checker, action, fields["runs"].value)
    return action


def _runs(checker: Checker, action: CompositeAction, node: yaml.Node) -> None:
    fields = checker.fields(
        node,
        "'runs'",
        ["using", "steps"],
        unsupported={
            key: f"'runs.{key}' belongs to JavaScript or Docker actions, which are not "
            "supported yet (only 'using: composite')"
            for key in (
                "main",
                "pre",
                "post",
                "pre-if",
                "post-if",
                "image",
                "args",
                "entrypoint",
                "env",
                "pre-entrypoint",
                "post-entrypoint",
            )
        },
    )
    if fields is None or not checker.require(fields, "using", node, "'runs'"):
        return
    using = checker.text(fields["using"].value, "'runs.using'", expressions=False)
    if using is not None and using != "composite":
        checker.problem(
            fields["using"].value,
            f"actions with 'using: {using}' are not supported yet (only 'using: composite')",
        )
        return
    if checker.require(fields, "steps", node, "a composite action's 'runs'"):
        action.steps = parse_steps(checker, fields["steps"].value, "the action", composite=True)
