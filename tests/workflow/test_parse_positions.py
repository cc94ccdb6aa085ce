"""Expression errors inside every kind of YAML scalar land on the right line:column."""

from __future__ import annotations

import pytest

from conveyor.workflow.errors import WorkflowInvalid
from conveyor.workflow.load import parse_workflow

HEAD = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n"

CASES = {
    # Escapes in a double-quoted scalar take more source characters than value characters.
    "double_quoted_escapes": (
        HEAD + '      - run: "echo \\t\\u00e9 ${{ 1 + }}"\n',
        (6, 35, "Invalid number '+'"),
    ),
    # '' stands for one quote in a single-quoted scalar.
    "single_quoted_doubled_quote": (
        HEAD + "      - run: 'it''s ${{ (1 }}'\n",
        (6, 25, "Missing ')'"),
    ),
    "folded_block": (
        HEAD + "      - run: >\n          echo one\n          echo ${{ github.sha ! }}\n",
        (8, 31, "Unexpected symbol '!'"),
    ),
    "literal_block_deeper_line": (
        HEAD
        + "      - run: |\n          if true; then\n"
        + "            echo ${{ (x }}\n          fi\n",
        (8, 22, "Missing ')'"),
    ),
    "literal_block_leading_blank_line": (
        HEAD + "      - run: |\n\n          echo ${{ a b }}\n",
        (8, 22, "Unexpected symbol 'b'"),
    ),
    "plain_scalar_over_two_lines": (
        HEAD + "      - run: echo a\n          ${{ x. }}\n",
        (7, 18, "property name"),
    ),
    "flow_mapping": (
        'on: push\njobs:\n  a: {runs-on: x, steps: [{run: "${{ a b }}"}]}\n',
        (3, 40, "Unexpected symbol 'b'"),
    ),
    # An if: without ${{ }} is one expression; its end is on the block's last line.
    "folded_if_without_braces": (
        "on: push\njobs:\n  a:\n    runs-on: x\n    if: >-\n      github.ref == 'a' &&\n"
        "      github.sha ==\n    steps:\n      - run: x\n",
        (7, 20, "Unexpected end of expression"),
    ),
    "second_expression_on_a_line": (
        HEAD + "      - run: echo ${{ github.sha }} ${{ github.ref == }}\n",
        (6, 55, "Unexpected end of expression"),
    ),
    # Mapping keys may be expressions (evaluated when the job runs), checked at load time.
    "expression_key_in_env": (
        "on: push\njobs:\n  a:\n    runs-on: x\n    env:\n      ${{ format(1 }}: v\n"
        "    steps:\n      - run: x\n",
        (6, 17, "Missing ')'"),
    ),
    "expression_key_in_matrix": (
        "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n"
        '        "${{ a b }}": [1]\n    steps:\n      - run: x\n',
        (7, 16, "Unexpected symbol 'b'"),
    ),
    "key_inside_an_inserted_mapping": (
        HEAD + "      - run: x\n        env:\n          ${{ insert }}:\n            ${{ x. }}: y\n",
        (9, 20, "property name"),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_expression_error_position(name: str) -> None:
    text, (line, column, fragment) = CASES[name]
    with pytest.raises(WorkflowInvalid) as raised:
        parse_workflow(text, "p.yml")
    [problem] = raised.value.problems
    assert (problem.position.line, problem.position.column) == (line, column), problem
    assert fragment in problem.message
    assert problem.message.startswith("invalid expression: ")


def test_valid_expressions_everywhere_pass() -> None:
    workflow = parse_workflow(
        HEAD
        + "      - run: |\n"
        + "          echo '${{ github.sha }}' \"${{ format('{0}}}', 'x') }}\"\n"
        + "        if: ${{ github.event_name == 'push' }}\n"
        + "        env:\n"
        + "          A: ${{ toJSON(github.event) }}\n",
        "ok.yml",
    )
    step = workflow.jobs["a"].steps[0]
    assert step.env == {"A": "${{ toJSON(github.event) }}"}
    assert step.if_ == "${{ github.event_name == 'push' }}"
