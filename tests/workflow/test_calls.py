"""Parsing calls of reusable workflows and what ``on.workflow_call`` declares."""

from __future__ import annotations

import textwrap

import pytest

from conveyor.workflow.calls import CallReference, argument_problems, parse_reference
from conveyor.workflow.load import parse_workflow


@pytest.mark.parametrize(
    ("uses", "expected"),
    [
        ("./.github/workflows/build.yml", CallReference(".github/workflows/build.yml")),
        ("./.github/workflows/build.yaml", CallReference(".github/workflows/build.yaml")),
        (
            "octo/ci/.github/workflows/build.yml@v2",
            CallReference(".github/workflows/build.yml", "octo/ci", "v2"),
        ),
        # GitHub: directly in .github/workflows, a ref for another repository's
        ("./.github/workflows/sub/build.yml", None),
        ("./build.yml", None),
        ("octo/ci/.github/workflows/build.yml", None),
        ("octo/ci@v2", None),
        ("./.github/workflows/build.json", None),
    ],
)
def test_references(uses, expected):
    assert parse_reference(uses) == expected


def parse(text: str, path: str = "ci.yml"):
    return parse_workflow(textwrap.dedent(text), path)


def test_a_callers_with_is_typed_as_written_and_secrets_keep_positions():
    workflow = parse(
        """\
        on: push
        jobs:
          call:
            uses: ./.github/workflows/r.yml
            with:
              flag: true
              count: 3
              text: "true"
              expr: ${{ matrix.x }}
            secrets:
              token: ${{ secrets.T }}
          all:
            uses: ./.github/workflows/r.yml
            secrets: inherit
        """
    )
    call = workflow.jobs["call"]
    assert call.with_ == {"flag": True, "count": 3, "text": "true", "expr": "${{ matrix.x }}"}
    assert call.secrets == {"token": "${{ secrets.T }}"}
    assert (call.positions["with.count"].line, call.positions["with.count"].column) == (7, 14)
    assert call.positions["secrets.token"].line == 11
    assert call.steps == [] and call.runs_on is None
    assert workflow.jobs["all"].secrets == "inherit"


def test_workflow_call_inputs_secrets_and_outputs_are_kept():
    workflow = parse(
        """\
        on:
          workflow_call:
            inputs:
              flag: {type: boolean, default: true}
              count: {type: number, required: true}
            secrets:
              token: {required: true, description: for the API}
            outputs:
              url:
                value: ${{ jobs.a.outputs.url }}
        jobs:
          a: {runs-on: x, steps: [{run: echo}]}
        """
    )
    call = workflow.on.call
    assert call is not None
    assert (call.inputs["flag"].type, call.inputs["flag"].default) == ("boolean", True)
    assert call.inputs["count"].required and call.inputs["count"].type == "number"
    assert call.secrets["token"].required and call.secrets["token"].description == "for the API"
    assert call.outputs == {"url": "${{ jobs.a.outputs.url }}"}
    assert call.positions["outputs.url"].line == 10
    assert parse("on: push\njobs:\n  a: {runs-on: x, steps: [{run: echo}]}\n").on.call is None


def test_argument_problems_name_unknown_and_missing_inputs_and_secrets():
    called = parse(
        """\
        on:
          workflow_call:
            inputs:
              needed: {type: string, required: true}
            secrets:
              key: {required: true}
        jobs:
          a: {runs-on: x, steps: [{run: echo}]}
        """,
        "r.yml",
    )
    caller = parse(
        """\
        on: push
        jobs:
          call:
            uses: ./.github/workflows/r.yml
            with:
              other: 1
            secrets:
              nope: x
        """
    )
    messages = [p.message for p in argument_problems(caller.jobs["call"], called, "r.yml")]
    assert messages == [
        "input 'other' is not defined in r.yml (its inputs: needed)",
        "r.yml requires input 'needed', which job 'call' does not pass",
        "secret 'nope' is not defined in r.yml (its secrets: key)",
        "r.yml requires secret 'key', which job 'call' does not pass "
        "(pass it under 'secrets:' or use 'secrets: inherit')",
    ]
    inheriting = parse(
        "on: push\njobs:\n  call:\n    uses: ./.github/workflows/r.yml\n"
        "    with: {needed: x}\n    secrets: inherit\n"
    )
    assert argument_problems(inheriting.jobs["call"], called, "r.yml") == []
