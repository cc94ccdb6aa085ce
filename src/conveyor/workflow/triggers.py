"""Does a workflow's ``on:`` accept an event? Plus cron and ``workflow_dispatch`` input checks.

The rules are GitHub's:

- ``branches``/``branches-ignore`` look only at branch refs and ``tags``/``tags-ignore`` only at
  tag refs. When a push event has branch filters but no tag filters, tag pushes do not run the
  workflow, and the other way round.
- ``paths``/``paths-ignore`` are ANDed with the ref filters; they are not evaluated for tag
  pushes. With ``paths`` a run needs at least one changed file the patterns include; with
  ``paths-ignore`` it needs at least one changed file the patterns do not ignore.
- ``pull_request`` and ``pull_request_target`` run for the activity types ``opened``,
  ``synchronize`` and ``reopened`` unless ``types`` says otherwise; their branch filters look at
  the pull request's base branch.

Whatever the caller cannot know (an empty ``ref``, ``changed_paths=None``, ``action=None``) does
not reject a run: ``conveyor run`` on a checkout may not know what a push would have changed.
"""

from __future__ import annotations

import math
import re
from typing import Any

from conveyor.records import record
from conveyor.workflow.globs import match_filters
from conveyor.workflow.model import DispatchInput, EventFilter, Triggers

DEFAULT_PULL_REQUEST_TYPES = ("opened", "synchronize", "reopened")
_PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")
_BRANCH_PREFIX = "refs/heads/"
_TAG_PREFIX = "refs/tags/"


@record
class EventInfo:
    """What happened, as far as choosing workflows is concerned."""

    name: str  # push, pull_request, workflow_dispatch, schedule, ...
    # refs/heads/main or refs/tags/v1; for pull_request the BASE branch ref. A value without
    # the refs/ prefix is taken as a branch name.
    ref: str = ""
    changed_paths: list[str] | None = None  # None = unknown (then path filters pass)
    action: str | None = None  # activity type, e.g. opened for pull_request
    workflow: str | None = None  # workflow_run: the name of the workflow that ran


def accepts(triggers: Triggers, event: EventInfo) -> bool:
    """Whether ``event`` starts a run of a workflow with these triggers."""
    return describe_rejection(triggers, event) is None


def describe_rejection(triggers: Triggers, event: EventInfo) -> str | None:
    """Why ``event`` does not start a run, in one sentence; ``None`` when it does."""
    if event.name == "schedule":
        if triggers.schedule or "schedule" in triggers.events:
            return None
        return _not_listed(triggers, event.name)
    event_filter = triggers.events.get(event.name)
    if event_filter is None:
        return _not_listed(triggers, event.name)
    where = f"on.{event.name}"
    if event.name == "push":
        return _push_rejection(event_filter, event, where)
    return (
        _types_rejection(event_filter, event, where)
        or _workflows_rejection(event_filter, event, where)
        or _branch_rejection(event_filter, _branch_name(event.ref), where)
        or _paths_rejection(event_filter, event.changed_paths, where)
    )


def _not_listed(triggers: Triggers, name: str) -> str:
    listed = list(triggers.events)
    if triggers.schedule and "schedule" not in listed:
        listed.append("schedule")
    if not listed:
        return f"the workflow has no triggers, so {name} does not run it"
    return f"the workflow does not run on {name} (it runs on: {', '.join(listed)})"


def _push_rejection(event_filter: EventFilter, event: EventInfo, where: str) -> str | None:
    has_branch_filters = _given(event_filter.branches, event_filter.branches_ignore)
    has_tag_filters = _given(event_filter.tags, event_filter.tags_ignore)
    if not event.ref:
        return _paths_rejection(event_filter, event.changed_paths, where)
    if event.ref.startswith(_TAG_PREFIX):
        tag = event.ref.removeprefix(_TAG_PREFIX)
        if has_tag_filters:
            # Paths filters are not evaluated for tag pushes.
            return _tag_rejection(event_filter, tag, where)
        if has_branch_filters:
            return f"tag {tag!r} was pushed but {where} only filters branches"
        return None
    branch = _branch_name(event.ref)
    if branch is None:
        if has_branch_filters or has_tag_filters:
            return f"ref {event.ref!r} is neither a branch nor a tag, and {where} filters refs"
        return _paths_rejection(event_filter, event.changed_paths, where)
    if has_branch_filters:
        rejection = _branch_rejection(event_filter, branch, where)
        if rejection:
            return rejection
    elif has_tag_filters:
        return f"branch {branch!r} was pushed but {where} only filters tags"
    return _paths_rejection(event_filter, event.changed_paths, where)


def _branch_name(ref: str) -> str | None:
    """The branch a ref names; ``None`` for tags and other refs; ``""`` when unknown."""
    if ref.startswith(_BRANCH_PREFIX):
        return ref.removeprefix(_BRANCH_PREFIX)
    if ref.startswith("refs/"):
        return None
    return ref


def _branch_rejection(event_filter: EventFilter, branch: str | None, where: str) -> str | None:
    if branch == "":
        return None
    if branch is None:
        if event_filter.branches is None and event_filter.branches_ignore is None:
            return None
        return f"the ref is not a branch, and {where} filters branches"
    return _ref_rejection(
        "branch", branch, event_filter.branches, event_filter.branches_ignore, where, "branches"
    )


def _tag_rejection(event_filter: EventFilter, tag: str, where: str) -> str | None:
    return _ref_rejection("tag", tag, event_filter.tags, event_filter.tags_ignore, where, "tags")


def _ref_rejection(
    kind: str,
    name: str,
    wanted: list[str] | None,
    ignored: list[str] | None,
    where: str,
    key: str,
) -> str | None:
    if wanted is not None and not match_filters(wanted, name):
        return f"{kind} {name!r} does not match {where}.{key} ({_listing(wanted)})"
    if ignored is not None and match_filters(ignored, name):
        return f"{kind} {name!r} is ignored by {where}.{key}-ignore ({_listing(ignored)})"
    return None


def _paths_rejection(
    event_filter: EventFilter, changed_paths: list[str] | None, where: str
) -> str | None:
    if changed_paths is None:
        return None
    wanted, ignored = event_filter.paths, event_filter.paths_ignore
    if wanted is not None and not any(match_filters(wanted, path) for path in changed_paths):
        return f"no changed file matches {where}.paths ({_listing(wanted)})"
    if ignored is not None and all(match_filters(ignored, path) for path in changed_paths):
        return f"every changed file is ignored by {where}.paths-ignore ({_listing(ignored)})"
    return None


def _types_rejection(event_filter: EventFilter, event: EventInfo, where: str) -> str | None:
    if event.action is None:
        return None
    if event_filter.types is not None:
        if event.action in event_filter.types:
            return None
        listed = _listing(event_filter.types)
        return f"activity type {event.action!r} is not in {where}.types ({listed})"
    if event.name in _PULL_REQUEST_EVENTS and event.action not in DEFAULT_PULL_REQUEST_TYPES:
        defaults = ", ".join(DEFAULT_PULL_REQUEST_TYPES)
        return (
            f"activity type {event.action!r} is not one {event.name} runs for by default "
            f"({defaults}); list it in {where}.types"
        )
    return None


def _workflows_rejection(event_filter: EventFilter, event: EventInfo, where: str) -> str | None:
    if event_filter.workflows is None or event.workflow is None:
        return None
    if event.workflow in event_filter.workflows:
        return None
    listed = _listing(event_filter.workflows)
    return f"workflow {event.workflow!r} is not in {where}.workflows ({listed})"


def _given(*filters: list[str] | None) -> bool:
    return any(patterns is not None for patterns in filters)


def _listing(patterns: list[str]) -> str:
    return ", ".join(patterns) if patterns else "empty list"


# --- schedule -------------------------------------------------------------------------------

_CRON_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day of month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day of week", "0-6 or SUN-SAT"),
)
_MONTH_NAMES = frozenset(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
)
_DAY_NAMES = frozenset(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))
_CRON_FIELD_SYNTAX = r"[0-9A-Za-z*,/-]+"  # compiled when first used


def validate_cron(expr: str) -> str | None:
    """``None`` when ``expr`` is a schedule GitHub accepts, else what is wrong with it.

    GitHub takes POSIX cron: five fields (minute, hour, day of month, month, day of week) with
    ``*``, ``,``, ``-`` and ``/``, and names for months and week days.
    """
    fields = expr.split()
    if len(fields) != 5:
        return (
            f"cron schedule {expr!r} has {len(fields)} field{'s' if len(fields) != 1 else ''}; "
            "it needs 5: minute hour day-of-month month day-of-week"
        )
    for number, (text, (name, allowed)) in enumerate(zip(fields, _CRON_FIELDS, strict=True)):
        problem = _cron_field_problem(text, number)
        if problem:
            return f"cron schedule {expr!r}: {name} field {text!r}: {problem} (allowed: {allowed})"

    # Imported here: cronsim is only needed when a schedule is checked, and CLI start-up is timed.
    from datetime import datetime

    from cronsim import CronSim, CronSimError

    for number, (text, (name, allowed)) in enumerate(zip(fields, _CRON_FIELDS, strict=True)):
        alone = ["*"] * 5
        alone[number] = text
        try:
            CronSim(" ".join(alone), datetime(2000, 1, 1))
        except CronSimError:
            return (
                f"cron schedule {expr!r}: {name} field {text!r} is not a valid value, range, "
                f"list or step (allowed: {allowed})"
            )
    try:
        CronSim(" ".join(fields), datetime(2000, 1, 1))
    except CronSimError as error:
        return f"cron schedule {expr!r} never matches a real date ({error})"
    return None


def _cron_field_problem(text: str, number: int) -> str | None:
    if not re.fullmatch(_CRON_FIELD_SYNTAX, text):
        return "only digits, names, '*', ',', '-' and '/' may appear"
    names = {3: _MONTH_NAMES, 4: _DAY_NAMES}.get(number, frozenset())
    for word in re.findall(r"[A-Za-z]+", text):
        if word.upper() not in names:
            if not names:
                return f"{word!r} is not a number"
            return f"{word!r} is not a {'month' if number == 3 else 'week day'} name"
    return None


# --- workflow_dispatch inputs ---------------------------------------------------------------

_INPUT_TYPES = ("string", "boolean", "number", "choice", "environment")


def dispatch_event(
    inputs: dict[str, DispatchInput], given: dict[str, str], payload: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``inputs`` context and the event payload of a ``workflow_dispatch`` run.

    As GitHub builds them: the values come from the payload's ``inputs`` (an
    ``--eventpath`` file), overridden by those ``given`` (``--input``, the Run workflow
    form, the API); ``inputs`` holds them typed, ``github.event.inputs`` as text, every
    declared input there, defaults included. Raises ``ValueError`` as
    ``coerce_dispatch_inputs`` does.
    """
    from_payload = payload.get("inputs")
    merged: dict[str, str] = {}
    if isinstance(from_payload, dict):
        merged = {str(name): _as_text(value) for name, value in from_payload.items()}
    merged.update(given)
    values = coerce_dispatch_inputs(inputs, merged)
    event = dict(payload)
    event["inputs"] = {name: _as_text(value) for name, value in values.items()}
    return values, event


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def coerce_dispatch_inputs(
    inputs: dict[str, DispatchInput], given: dict[str, str]
) -> dict[str, Any]:
    """Check the values given for a manual run and turn them into the ``inputs`` context.

    Every declared input gets a value: the given one, else its default, else an empty value of
    its type (``""``, ``False`` for booleans, ``None`` for numbers). Booleans become ``bool``,
    numbers ``int`` or ``float``. Raises ``ValueError`` naming the input for an unknown input, a
    missing required one, a value of the wrong type, or a choice outside its options.
    """
    unknown = [name for name in given if name not in inputs]
    if unknown:
        declared = ", ".join(inputs) if inputs else "none"
        raise ValueError(
            f"unknown input{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"(this workflow's inputs: {declared})"
        )
    values: dict[str, Any] = {}
    for name, declared in inputs.items():
        if declared.type not in _INPUT_TYPES:
            raise ValueError(
                f"input {name!r} has unknown type {declared.type!r} "
                "(use string, boolean, number, choice or environment)"
            )
        if name in given and not _is_blank(given[name], declared):
            values[name] = _coerce(declared, given[name], f"input {name!r}")
        elif declared.default is not None:
            values[name] = _coerce(declared, declared.default, f"the default of input {name!r}")
        elif declared.required:
            raise ValueError(f"input {name!r} is required but no value was given")
        else:
            values[name] = _empty_value(declared)
    return values


def _is_blank(value: Any, declared: DispatchInput) -> bool:
    # A required text input left empty counts as not given, like GitHub's form.
    return declared.required and isinstance(value, str) and value == ""


def _coerce(declared: DispatchInput, value: Any, what: str) -> Any:
    if declared.type == "boolean":
        return _coerce_boolean(value, what)
    if declared.type == "number":
        return _coerce_number(value, what)
    text = _as_text(value)
    if declared.type == "choice" and text not in declared.options:
        options = ", ".join(map(repr, declared.options)) if declared.options else "none declared"
        raise ValueError(f"{what} must be one of its options ({options}), got {text!r}")
    return text


def _coerce_boolean(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word == "true":
        return True
    if word == "false":
        return False
    raise ValueError(f"{what} must be true or false, got {value!r}")


def _coerce_number(value: Any, what: str) -> int | float:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, got {value!r}")
    if isinstance(value, int | float):
        number: int | float = value
    else:
        text = str(value).strip()
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"{what} must be a number, got {value!r}") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return number


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _empty_value(declared: DispatchInput) -> Any:
    if declared.type == "boolean":
        return False
    if declared.type == "number":
        return None
    return ""
