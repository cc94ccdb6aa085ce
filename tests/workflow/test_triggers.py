"""Trigger matching, cron validation and workflow_dispatch inputs, following GitHub's docs."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from conveyor.workflow.model import DispatchInput, EventFilter, Triggers
from conveyor.workflow.triggers import (
    EventInfo,
    accepts,
    coerce_dispatch_inputs,
    describe_rejection,
    validate_cron,
)


def on(**events: EventFilter) -> Triggers:
    return Triggers(events=dict(events))


def push(ref: str, changed: list[str] | None = None) -> EventInfo:
    return EventInfo(name="push", ref=ref, changed_paths=changed)


def pull_request(
    base: str, action: str | None = "opened", changed: list[str] | None = None
) -> EventInfo:
    return EventInfo(name="pull_request", ref=base, action=action, changed_paths=changed)


def check(triggers: Triggers, event: EventInfo, expected: bool) -> str | None:
    """Assert ``accepts`` and ``describe_rejection`` agree with each other and with ``expected``."""
    reason = describe_rejection(triggers, event)
    assert accepts(triggers, event) is expected
    assert (reason is None) is expected
    return reason


# --- push: ref filters ---------------------------------------------------------------------

PUSH_CASES = [
    # No filters: every branch and tag push runs.
    (EventFilter(), "refs/heads/main", True),
    (EventFilter(), "refs/tags/v1.0", True),
    # The documented branch example with a negation.
    (EventFilter(branches=["main", "releases/**", "!releases/**-alpha"]), "refs/heads/main", True),
    (
        EventFilter(branches=["main", "releases/**", "!releases/**-alpha"]),
        "refs/heads/releases/10",
        True,
    ),
    (
        EventFilter(branches=["main", "releases/**", "!releases/**-alpha"]),
        "refs/heads/releases/beta/3-alpha",
        False,
    ),
    (EventFilter(branches=["main"]), "refs/heads/dev", False),
    # Only branch filters: tag pushes do not run, and the other way round.
    (EventFilter(branches=["main"]), "refs/tags/v1", False),
    (EventFilter(branches_ignore=["dev"]), "refs/tags/v1", False),
    (EventFilter(tags=["v2*"]), "refs/tags/v2.1", True),
    (EventFilter(tags=["v2*"]), "refs/tags/v1.0", False),
    (EventFilter(tags=["v2*"]), "refs/heads/main", False),
    (EventFilter(tags_ignore=["v1.*"]), "refs/heads/main", False),
    (EventFilter(tags_ignore=["v1.*"]), "refs/tags/v1.2", False),
    (EventFilter(tags_ignore=["v1.*"]), "refs/tags/v2.0", True),
    # Both kinds given: each applies to its own kind of ref.
    (EventFilter(branches=["main"], tags=["v*"]), "refs/heads/main", True),
    (EventFilter(branches=["main"], tags=["v*"]), "refs/tags/v3", True),
    (EventFilter(branches=["main"], tags=["v*"]), "refs/tags/x3", False),
    # The documented branches-ignore example.
    (EventFilter(branches_ignore=["mona/octocat", "releases/**-alpha"]), "refs/heads/main", True),
    (
        EventFilter(branches_ignore=["mona/octocat", "releases/**-alpha"]),
        "refs/heads/mona/octocat",
        False,
    ),
    (
        EventFilter(branches_ignore=["mona/octocat", "releases/**-alpha"]),
        "refs/heads/releases/beta/3-alpha",
        False,
    ),
    # A ref that is neither branch nor tag does not pass ref filters.
    (EventFilter(branches=["**"]), "refs/pull/1/merge", False),
    (EventFilter(), "refs/pull/1/merge", True),
    # A bare name is taken as a branch; an unknown ref does not reject.
    (EventFilter(branches=["main"]), "main", True),
    (EventFilter(branches=["main"]), "", True),
]


@pytest.mark.parametrize(("event_filter", "ref", "expected"), PUSH_CASES)
def test_push_ref_filters(event_filter: EventFilter, ref: str, expected: bool) -> None:
    check(on(push=event_filter), push(ref), expected)


def test_rejection_explains_branch_mismatch() -> None:
    triggers = on(push=EventFilter(branches=["main", "release/*"]))
    reason = check(triggers, push("refs/heads/dev"), False)
    assert reason == "branch 'dev' does not match on.push.branches (main, release/*)"


def test_rejection_explains_ignored_branch() -> None:
    reason = check(on(push=EventFilter(branches_ignore=["dev"])), push("refs/heads/dev"), False)
    assert reason == "branch 'dev' is ignored by on.push.branches-ignore (dev)"


def test_rejection_explains_tag_push_with_only_branch_filters() -> None:
    reason = check(on(push=EventFilter(branches=["main"])), push("refs/tags/v1"), False)
    assert reason == "tag 'v1' was pushed but on.push only filters branches"


def test_rejection_explains_branch_push_with_only_tag_filters() -> None:
    reason = check(on(push=EventFilter(tags=["v*"])), push("refs/heads/main"), False)
    assert reason == "branch 'main' was pushed but on.push only filters tags"


# --- push: path filters --------------------------------------------------------------------

SUB_PROJECT = ["sub-project/**", "!sub-project/docs/**"]

PATH_CASES = [
    (EventFilter(paths=["**.js"]), ["src/app.js"], True),
    (EventFilter(paths=["**.js"]), ["README.md"], False),
    (EventFilter(paths=["**.js"]), ["README.md", "lib/x.js"], True),
    (EventFilter(paths=["**.js"]), None, True),
    (EventFilter(paths=["**.js"]), [], False),
    # The documented negation example: docs inside sub-project do not count.
    (EventFilter(paths=SUB_PROJECT), ["sub-project/src/a.c"], True),
    (EventFilter(paths=SUB_PROJECT), ["sub-project/docs/a.md"], False),
    (EventFilter(paths=SUB_PROJECT), ["sub-project/docs/a.md", "sub-project/b.c"], True),
    # paths-ignore: the run is skipped only when every changed file is ignored.
    (EventFilter(paths_ignore=["docs/**"]), ["docs/hello.md"], False),
    (EventFilter(paths_ignore=["docs/**"]), ["docs/hello.md", "src/app.py"], True),
    (EventFilter(paths_ignore=["docs/**"]), None, True),
    # Ref filters and path filters are ANDed.
    (EventFilter(branches=["main"], paths=["src/**"]), ["src/app.py"], True),
    (EventFilter(branches=["main"], paths=["src/**"]), ["docs/a.md"], False),
]


@pytest.mark.parametrize(("event_filter", "changed", "expected"), PATH_CASES)
def test_push_path_filters(
    event_filter: EventFilter, changed: list[str] | None, expected: bool
) -> None:
    check(on(push=event_filter), push("refs/heads/main", changed), expected)


def test_branch_filter_is_checked_before_paths() -> None:
    triggers = on(push=EventFilter(branches=["main"], paths=["src/**"]))
    reason = check(triggers, push("refs/heads/dev", ["src/app.py"]), False)
    assert reason is not None and "on.push.branches" in reason


def test_paths_are_not_evaluated_for_tag_pushes() -> None:
    only_paths = on(push=EventFilter(paths=["src/**"]))
    check(only_paths, push("refs/tags/v1", ["docs/a.md"]), True)
    tags_and_paths = on(push=EventFilter(tags=["v*"], paths=["src/**"]))
    check(tags_and_paths, push("refs/tags/v1", ["docs/a.md"]), True)


def test_rejection_explains_paths() -> None:
    reason = check(on(push=EventFilter(paths=["src/**"])), push("refs/heads/x", ["a.md"]), False)
    assert reason == "no changed file matches on.push.paths (src/**)"
    ignoring = on(push=EventFilter(paths_ignore=["**.md"]))
    reason = check(ignoring, push("refs/heads/x", ["a.md", "b/c.md"]), False)
    assert reason == "every changed file is ignored by on.push.paths-ignore (**.md)"


# --- pull_request ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("opened", True),
        ("synchronize", True),
        ("reopened", True),
        ("closed", False),
        ("labeled", False),
        (None, True),
    ],
)
def test_pull_request_default_activity_types(action: str | None, expected: bool) -> None:
    check(on(pull_request=EventFilter()), pull_request("refs/heads/main", action), expected)


def test_pull_request_target_has_the_same_default_types() -> None:
    triggers = on(pull_request_target=EventFilter())
    event = EventInfo(name="pull_request_target", ref="refs/heads/main", action="closed")
    reason = check(triggers, event, False)
    assert reason is not None and "opened, synchronize, reopened" in reason


def test_pull_request_types_replace_the_defaults() -> None:
    triggers = on(pull_request=EventFilter(types=["closed", "labeled"]))
    check(triggers, pull_request("refs/heads/main", "closed"), True)
    reason = check(triggers, pull_request("refs/heads/main", "opened"), False)
    assert reason == "activity type 'opened' is not in on.pull_request.types (closed, labeled)"


def test_pull_request_branches_filter_the_base_branch() -> None:
    triggers = on(pull_request=EventFilter(branches=["main", "releases/**"]))
    check(triggers, pull_request("refs/heads/releases/2"), True)
    reason = check(triggers, pull_request("refs/heads/feature/x"), False)
    assert reason is not None and "on.pull_request.branches" in reason


def test_pull_request_paths_and_branches_together() -> None:
    triggers = on(pull_request=EventFilter(branches=["main"], paths=["**.py"]))
    check(triggers, pull_request("refs/heads/main", changed=["app/x.py"]), True)
    check(triggers, pull_request("refs/heads/main", changed=["README.md"]), False)
    check(triggers, pull_request("refs/heads/dev", changed=["app/x.py"]), False)


# --- other events --------------------------------------------------------------------------------


def test_event_not_listed_names_the_events_that_are() -> None:
    triggers = Triggers(
        events={"pull_request": EventFilter(), "workflow_dispatch": EventFilter()},
        schedule=["0 3 * * *"],
    )
    reason = check(triggers, push("refs/heads/main"), False)
    assert reason == (
        "the workflow does not run on push (it runs on: pull_request, workflow_dispatch, schedule)"
    )


def test_workflow_without_triggers() -> None:
    reason = check(Triggers(), push("refs/heads/main"), False)
    assert reason is not None and "no triggers" in reason


def test_schedule_runs_when_cron_lines_exist() -> None:
    check(Triggers(schedule=["*/15 * * * *"]), EventInfo(name="schedule"), True)
    check(on(push=EventFilter()), EventInfo(name="schedule"), False)


def test_workflow_dispatch_runs_on_any_ref() -> None:
    triggers = on(workflow_dispatch=EventFilter())
    check(triggers, EventInfo(name="workflow_dispatch", ref="refs/heads/any"), True)


def test_types_filter_for_other_events_defaults_to_every_type() -> None:
    check(on(issues=EventFilter()), EventInfo(name="issues", action="labeled"), True)
    triggers = on(issues=EventFilter(types=["opened"]))
    check(triggers, EventInfo(name="issues", action="opened"), True)
    check(triggers, EventInfo(name="issues", action="labeled"), False)


def test_workflow_run_filters_workflows_and_branches() -> None:
    triggers = on(
        workflow_run=EventFilter(workflows=["CI"], types=["completed"], branches=["main"])
    )

    def run(workflow: str, ref: str) -> EventInfo:
        return EventInfo(name="workflow_run", ref=ref, action="completed", workflow=workflow)

    check(triggers, run("CI", "refs/heads/main"), True)
    reason = check(triggers, run("Lint", "refs/heads/main"), False)
    assert reason == "workflow 'Lint' is not in on.workflow_run.workflows (CI)"
    check(triggers, run("CI", "refs/heads/dev"), False)


# --- cron ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "*/15 * * * *",
        "30 5,17 * * *",
        "30 5 * * 1,3",
        "30 5 * * 2-4",
        "0 0 * * MON-FRI",
        "0 12 1 JAN,jul *",
        "15 4 1-7 */2 0",
        "  0   0 * * *  ",
    ],
)
def test_valid_cron(expr: str) -> None:
    assert validate_cron(expr) is None


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("* * * *", "has 4 fields; it needs 5"),
        ("* * * * * *", "has 6 fields"),
        ("@daily", "has 1 field;"),
        ("", "has 0 fields"),
        ("60 * * * *", "minute field '60' is not a valid value"),
        ("* 24 * * *", "hour field '24'"),
        ("0 0 0 * *", "day of month field '0'"),
        ("0 0 32 * *", "day of month field '32'"),
        ("0 0 * 13 *", "month field '13'"),
        ("0 0 * * 8", "day of week field '8'"),
        ("5-1 * * * *", "minute field '5-1'"),
        ("*/0 * * * *", "minute field '*/0'"),
        ("0 0 ? * *", "day of month field '?': only digits, names"),
        ("0 0 * * 1#2", "day of week field '1#2': only digits"),
        ("0 0 L * *", "'L' is not a number"),
        ("0 0 * * 5L", "'L' is not a week day name"),
        ("0 0 * FOO *", "'FOO' is not a month name"),
        ("0 MON * * *", "'MON' is not a number"),
        ("0 0 31 2 *", "never matches a real date"),
    ],
)
def test_invalid_cron_says_which_field(expr: str, words: str) -> None:
    message = validate_cron(expr)
    assert message is not None
    assert words in message
    assert repr(expr) in message


def test_importing_triggers_does_not_import_cronsim() -> None:
    probe = (
        "import sys, conveyor.workflow.triggers as t; "
        "before = 'cronsim' in sys.modules; t.validate_cron('0 0 * * *'); "
        "print(before, 'cronsim' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.split() == ["False", "True"]


# --- workflow_dispatch inputs -------------------------------------------------------------------

DEPLOY_INPUTS = {
    "logLevel": DispatchInput(
        name="logLevel",
        required=True,
        default="warning",
        type="choice",
        options=["info", "warning", "debug"],
    ),
    "print_tags": DispatchInput(name="print_tags", required=True, type="boolean"),
    "tags": DispatchInput(name="tags", required=False, type="string"),
    "environment": DispatchInput(name="environment", type="environment", required=True),
    "replicas": DispatchInput(name="replicas", type="number", default=2),
}


def test_dispatch_inputs_are_coerced_and_defaulted() -> None:
    values = coerce_dispatch_inputs(
        DEPLOY_INPUTS, {"print_tags": "true", "environment": "production"}
    )
    assert values == {
        "logLevel": "warning",
        "print_tags": True,
        "tags": "",
        "environment": "production",
        "replicas": 2,
    }


@pytest.mark.parametrize(
    ("given", "name", "expected"),
    [
        ({"print_tags": "false"}, "print_tags", False),
        ({"print_tags": "TRUE"}, "print_tags", True),
        ({"replicas": "5"}, "replicas", 5),
        ({"replicas": "2.5"}, "replicas", 2.5),
        ({"replicas": " -3 "}, "replicas", -3),
        ({"logLevel": "debug"}, "logLevel", "debug"),
        ({"tags": "a b"}, "tags", "a b"),
    ],
)
def test_given_values_win_over_defaults(given: dict[str, str], name: str, expected: Any) -> None:
    base = {"print_tags": "true", "environment": "staging"}
    values = coerce_dispatch_inputs(DEPLOY_INPUTS, base | given)
    assert values[name] == expected
    assert type(values[name]) is type(expected)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"environment": "x"}, "input 'print_tags' is required but no value was given"),
        ({"print_tags": "true"}, "input 'environment' is required but no value was given"),
        ({"print_tags": "true", "environment": ""}, "input 'environment' is required"),
        ({"print_tags": "yes", "environment": "x"}, "input 'print_tags' must be true or false"),
        ({"print_tags": "true", "environment": "x", "replicas": "many"}, "input 'replicas' must"),
        ({"print_tags": "true", "environment": "x", "replicas": "nan"}, "finite number"),
        (
            {"print_tags": "true", "environment": "x", "logLevel": "trace"},
            "input 'logLevel' must be one of its options ('info', 'warning', 'debug'), got 'trace'",
        ),
        ({"print_tags": "true", "environment": "x", "colour": "red"}, "unknown input 'colour'"),
    ],
)
def test_bad_dispatch_inputs_name_the_input(given: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        coerce_dispatch_inputs(DEPLOY_INPUTS, given)
    assert message in str(caught.value)


def test_unknown_input_lists_the_declared_ones() -> None:
    with pytest.raises(ValueError, match=r"this workflow's inputs: logLevel, print_tags"):
        coerce_dispatch_inputs(DEPLOY_INPUTS, {"nope": "1"})
    with pytest.raises(ValueError, match=r"inputs: none"):
        coerce_dispatch_inputs({}, {"nope": "1"})


def test_yaml_typed_defaults_are_accepted() -> None:
    inputs = {
        "debug": DispatchInput(name="debug", type="boolean", default=True),
        "count": DispatchInput(name="count", type="number", default="7"),
        "mode": DispatchInput(name="mode", type="choice", options=["1", "2"], default=2),
    }
    assert coerce_dispatch_inputs(inputs, {}) == {"debug": True, "count": 7, "mode": "2"}


def test_bad_default_is_reported_as_the_default() -> None:
    inputs = {"mode": DispatchInput(name="mode", type="choice", options=["a"], default="b")}
    with pytest.raises(ValueError, match="the default of input 'mode' must be one of"):
        coerce_dispatch_inputs(inputs, {})


def test_missing_optional_inputs_get_empty_values_of_their_type() -> None:
    inputs = {
        "text": DispatchInput(name="text"),
        "flag": DispatchInput(name="flag", type="boolean"),
        "number": DispatchInput(name="number", type="number"),
    }
    assert coerce_dispatch_inputs(inputs, {}) == {"text": "", "flag": False, "number": None}


def test_unknown_input_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="input 'x' has unknown type 'list'"):
        coerce_dispatch_inputs({"x": DispatchInput(name="x", type="list")}, {})
