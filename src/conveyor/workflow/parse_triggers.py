"""The ``on:`` section: events, their filters, schedules and dispatch inputs."""

from __future__ import annotations

import zoneinfo

import yaml

from conveyor.workflow import globs, triggers
from conveyor.workflow.model import CallSecret, DispatchInput, EventFilter, Triggers, WorkflowCall
from conveyor.workflow.parse_base import Checker, plain_number, suggestion
from conveyor.workflow.parse_exprs import value_position
from conveyor.workflow.schema_events import (
    ACTIVITY_TYPES,
    ALL_EVENTS,
    ANY_TYPES,
    CALL_INPUT_TYPES,
    DISPATCH_INPUT_TYPES,
    EXCLUSIVE_FILTERS,
    FILTERS,
)
from conveyor.workflow.yamlsource import BOOL_TAG, is_mapping, is_null, is_scalar, is_sequence

_GLOB_FILTERS = ("branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore")


def parse_on(checker: Checker, node: yaml.Node) -> Triggers:
    result = Triggers()
    if is_scalar(node) and not is_null(node):
        _add_event(checker, result, node.value, node, None)
    elif is_sequence(node):
        if not node.value:
            checker.problem(node, "'on' must name at least one event")
        for item in node.value:
            name = checker.text(item, "each event in 'on'", expressions=False)
            if name is not None:
                if name in result.events or (name == "schedule" and result.schedule):
                    checker.problem(item, f"event '{name}' is listed twice in 'on'")
                _add_event(checker, result, name, item, None)
    elif is_mapping(node):
        found = checker.mapping(node, "'on'") or []
        if not found:
            checker.problem(node, "'on' must name at least one event")
        for entry in found:
            _add_event(checker, result, entry.key, entry.key_node, entry.value)
    else:
        checker.problem(node, "'on' must be an event name, a list of events or a mapping of events")
    return result


def _add_event(
    checker: Checker,
    result: Triggers,
    name: str,
    name_node: yaml.Node,
    value: yaml.Node | None,
) -> None:
    if name not in ALL_EVENTS:
        hint = suggestion(name, ALL_EVENTS)
        checker.problem(name_node, f"unknown event '{name}' in 'on'{hint}")
        return
    if name == "schedule":
        if value is None:
            checker.problem(name_node, "'schedule' needs a list of '- cron:' entries")
            return
        result.schedule.extend(_schedule(checker, value, result.timezones))
        return
    if name == "workflow_dispatch":
        result.events[name] = EventFilter()
        if value is not None:
            result.inputs = _dispatch(checker, value)
        return
    if name == "workflow_call":
        result.events[name] = EventFilter()
        result.call = WorkflowCall() if value is None else _workflow_call(checker, value)
        return
    result.events[name] = EventFilter() if value is None else _filters(checker, name, value)


def _filters(checker: Checker, event: str, node: yaml.Node) -> EventFilter:
    allowed = [*FILTERS.get(event, ()), "types"]
    what = f"'on.{event}'"
    fields = checker.fields(node, what, allowed, allow_null=True)
    result = EventFilter()
    if fields is None:
        return result
    for first, second in EXCLUSIVE_FILTERS:
        if first in fields and second in fields:
            checker.problem(
                fields[second].key_node,
                f"{what} cannot have both '{first}' and '{second}'; "
                f"use '{first}' with '!' patterns instead",
            )
    for key, entry in fields.items():
        items = checker.string_list(entry.value, f"{what}.{key}", expressions=False)
        if items is None:
            continue
        if key in _GLOB_FILTERS:
            for pattern, item in items:
                _check_glob(checker, item, pattern)
        if key == "types" and ACTIVITY_TYPES.get(event) is None:
            checker.problem(entry.key_node, f"event '{event}' has no activity types to filter on")
            continue
        if key == "types":
            _check_types(checker, event, items)
        setattr(result, key.replace("-", "_"), [value for value, _ in items])
    return result


def _check_glob(checker: Checker, node: yaml.Node, pattern: str) -> None:
    try:
        globs.check_glob(pattern)
    except globs.GlobError as error:
        checker.problem_at(
            value_position(checker.source, node, error.offset),
            f"invalid filter pattern {pattern!r}: {error.message}",
        )


def _check_types(checker: Checker, event: str, items: list[tuple[str, yaml.Node]]) -> None:
    if event in ANY_TYPES:
        return
    known = ACTIVITY_TYPES.get(event) or frozenset()
    for value, node in items:
        if value not in known:
            hint = suggestion(value, sorted(known))
            checker.problem(node, f"unknown activity type '{value}' for event '{event}'{hint}")


def _schedule(checker: Checker, node: yaml.Node, timezones: dict[str, str]) -> list[str]:
    lines: list[str] = []
    if not is_sequence(node) or not node.value:
        checker.problem(node, "'schedule' must be a list of '- cron: ...' entries")
        return lines
    for item in node.value:
        fields = checker.fields(item, "a 'schedule' entry", ["cron", "timezone"])
        if fields is None or not checker.require(fields, "cron", item, "a 'schedule' entry"):
            continue
        value_node = fields["cron"].value
        expression = checker.text(value_node, "'cron'", expressions=False)
        if expression is None:
            continue
        message = triggers.validate_cron(expression)
        if message:
            checker.problem(value_node, f"invalid 'cron': {message}")
        else:
            lines.append(expression)
        if "timezone" in fields:
            zone = _timezone(checker, fields["timezone"].value)
            if zone is not None and message is None:
                timezones[expression] = zone
    return lines


def _timezone(checker: Checker, node: yaml.Node) -> str | None:
    name = checker.text(node, "'timezone'", expressions=False)
    if name is None:
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        checker.problem(node, f"unknown time zone {name!r} (use an IANA name like Europe/Paris)")
        return None
    return name


def _dispatch(checker: Checker, node: yaml.Node) -> dict[str, DispatchInput]:
    fields = checker.fields(node, "'on.workflow_dispatch'", ["inputs"], allow_null=True)
    if not fields or "inputs" not in fields:
        return {}
    return parse_inputs(checker, fields["inputs"].value, "workflow_dispatch", DISPATCH_INPUT_TYPES)


def parse_inputs(
    checker: Checker,
    node: yaml.Node,
    owner: str,
    types: tuple[str, ...],
    extra_keys: tuple[str, ...] = (),
) -> dict[str, DispatchInput]:
    """``inputs:`` of workflow_dispatch, workflow_call or a composite action."""
    result: dict[str, DispatchInput] = {}
    for entry in checker.mapping(node, f"'{owner}' inputs", allow_null=True) or []:
        what = f"input '{entry.key}'"
        known = ["description", "required", "default", *extra_keys]
        if types:
            known.append("type")
        if "choice" in types:
            known.append("options")
        fields = checker.fields(entry.value, what, known, allow_null=True)
        if fields is None:
            continue
        spec = DispatchInput(name=entry.key)
        if "description" in fields:
            spec.description = (
                checker.text(fields["description"].value, f"{what} description") or ""
            )
        if "required" in fields:
            required = checker.boolean(fields["required"].value, f"{what} 'required'")
            spec.required = required is True
        if "type" in fields:
            kind = checker.text(fields["type"].value, f"{what} type", expressions=False)
            if kind is not None and kind not in types:
                hint = suggestion(kind, types)
                allowed = ", ".join(types)
                checker.problem(
                    fields["type"].value,
                    f"unknown type '{kind}' for {what} (allowed: {allowed}){hint}",
                )
            elif kind is not None:
                spec.type = kind
        elif types and owner == "workflow_call":
            checker.problem(entry.key_node, f"{what} of workflow_call needs a 'type'")
        if "options" in fields:
            options = checker.string_list(fields["options"].value, f"{what} options", single=False)
            spec.options = [value for value, _ in options or []]
            if spec.type != "choice":
                checker.problem(
                    fields["options"].key_node, f"'options' needs {what} to be a choice"
                )
        elif spec.type == "choice":
            checker.problem(entry.key_node, f"choice {what} needs a list of 'options'")
        if "default" in fields:
            spec.default = _default(checker, fields["default"].value, spec, what)
        result[entry.key] = spec
    return result


def _default(checker: Checker, node: yaml.Node, spec: DispatchInput, what: str) -> object:
    if not is_scalar(node):
        checker.problem(node, f"the default of {what} must be a single value")
        return None
    plain = node.style in (None, "")
    if spec.type == "boolean":
        if plain and node.tag == BOOL_TAG and node.value.lower() in ("true", "false"):
            return node.value.lower() == "true"
        if "${{" in node.value:
            return node.value
        checker.problem(node, f"the default of boolean {what} must be true or false")
        return None
    if spec.type == "number":
        number = plain_number(node.value) if plain else None
        if number is None and "${{" not in node.value:
            checker.problem(node, f"the default of number {what} must be a number")
        return number if number is not None else node.value
    value = checker.text(node, f"the default of {what}", allow_null=True)
    if spec.type == "choice" and spec.options and value not in spec.options:
        checker.problem(node, f"the default {value!r} of {what} is not one of its options")
    return value


def _workflow_call(checker: Checker, node: yaml.Node) -> WorkflowCall:
    """What a caller may pass (typed inputs, secrets) and what the workflow gives back."""
    call = WorkflowCall()
    fields = checker.fields(
        node, "'on.workflow_call'", ["inputs", "outputs", "secrets"], allow_null=True
    )
    if not fields:
        return call
    if "inputs" in fields:
        call.inputs = parse_inputs(
            checker, fields["inputs"].value, "workflow_call", CALL_INPUT_TYPES
        )
    if "outputs" in fields:
        for entry in checker.mapping(fields["outputs"].value, "workflow_call outputs") or []:
            output = checker.fields(entry.value, f"output '{entry.key}'", ["description", "value"])
            if output is not None and checker.require(
                output, "value", entry.value, f"output '{entry.key}'"
            ):
                value = checker.text(output["value"].value, f"output '{entry.key}' value")
                if value is not None:
                    call.outputs[entry.key] = value
                    call.positions[f"outputs.{entry.key}"] = checker.at(output["value"].value)
    if "secrets" in fields:
        for entry in checker.mapping(fields["secrets"].value, "workflow_call secrets") or []:
            secret = checker.fields(
                entry.value, f"secret '{entry.key}'", ["description", "required"], allow_null=True
            )
            spec = CallSecret(name=entry.key)
            if secret and "required" in secret:
                required = checker.boolean(
                    secret["required"].value, f"secret '{entry.key}' 'required'"
                )
                spec.required = required is True
            if secret and "description" in secret:
                spec.description = (
                    checker.text(secret["description"].value, f"secret '{entry.key}' description")
                    or ""
                )
            call.secrets[entry.key] = spec
    return call
