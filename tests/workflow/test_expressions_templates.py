"""Strings with embedded ${{ }}: finding, interpolating, raw values, `if:` conditions."""

from __future__ import annotations

import math

import pytest

from conveyor.workflow.expressions import (
    ExpressionError,
    JobStatus,
    evaluate_condition,
    evaluate_value,
    find_expressions,
    interpolate,
    to_string,
)

CONTEXTS = {
    "github": {"ref": "refs/heads/main", "event_name": "push", "run_number": 7},
    "env": {"NAME": "Mona", "EMPTY": ""},
    "matrix": {"os": "ubuntu-latest", "versions": ["3.11", "3.12"]},
    "steps": {"check": {"outputs": {"changed": "true"}}},
    "inputs": {"dry-run": False, "count": 3},
}


@pytest.mark.parametrize(
    ("template", "found"),
    [
        ("no expressions", []),
        ("${{ a }}", [(3, " a ")]),
        ("x ${{a}} y ${{ b.c }}", [(5, "a"), (14, " b.c ")]),
        ("${{ '}}' }}", [(3, " '}}' ")]),
        ("${{ 'it''s }}' }} tail", [(3, " 'it''s }}' ")]),
        ("${{ format('{{0}}', 1) }}", [(3, " format('{{0}}', 1) ")]),
        ("$ {{ not }} ${ {no} }", []),
        ("${{}}", [(3, "")]),
        ("echo ${{ a }}${{ b }}", [(8, " a "), (16, " b ")]),
    ],
)
def test_find_expressions(template: str, found: list[tuple[int, str]]) -> None:
    assert find_expressions(template) == found
    for offset, text in found:
        assert template[offset : offset + len(text)] == text


@pytest.mark.parametrize(
    ("template", "offset"),
    [("${{ a ", 0), ("ok ${{ a }} then ${{ b", 17), ("${{ '}}' ", 0)],
)
def test_unclosed_expressions_are_reported_at_their_start(template: str, offset: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        find_expressions(template)
    assert caught.value.offset == offset
    assert "Unclosed '${{'" in caught.value.message


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (3.0, "3"),
        (-0.0, "0"),
        (0.5, "0.5"),
        (-9.2, "-9.2"),
        (1 / 3, "0.333333333333333"),  # 15 significant digits
        (1e15, "1E+15"),
        (123456789012345.0, "123456789012345"),
        (1e-7, "1E-07"),
        (0.0001, "0.0001"),
        (2**53, "9007199254740992"),  # exact integers print in full
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (math.nan, "NaN"),
        ("text", "text"),
        ([1, "a"], '[\n  1,\n  "a"\n]'),
        ({"a": 1}, '{\n  "a": 1\n}'),
    ],
)
def test_to_string(value: object, text: str) -> None:
    assert to_string(value) == text


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hello ${{ env.NAME }}!", "Hello Mona!"),
        ("${{ env.NAME }}", "Mona"),
        ("run ${{ github.run_number }}", "run 7"),
        ("[${{ env.EMPTY }}][${{ env.MISSING }}]", "[][]"),
        ("${{ inputs.dry-run }}", "false"),
        ("${{ 1 == 1 }}", "true"),
        ("${{ 0xff }}/${{ -2.99e-2 }}/${{ 1.0 }}", "255/-0.0299/1"),
        ("${{ matrix.versions }}", '[\n  "3.11",\n  "3.12"\n]'),
        ("${{ '}}' }}", "}}"),
        ("plain text stays", "plain text stays"),
        ("${{ matrix.os }}-${{ matrix.versions[0] }}", "ubuntu-latest-3.11"),
    ],
)
def test_interpolate(template: str, expected: str) -> None:
    assert interpolate(template, CONTEXTS) == expected


def test_interpolate_reports_errors_at_their_place_in_the_template() -> None:
    template = "echo ${{ github.ref }} ${{ fromJSON('x') }}"
    with pytest.raises(ExpressionError) as caught:
        interpolate(template, CONTEXTS)
    assert caught.value.offset == template.index("fromJSON")
    assert caught.value.expression == template

    template = "echo ${{ github.ref == }}"
    with pytest.raises(ExpressionError) as caught:
        interpolate(template, CONTEXTS)
    assert caught.value.offset == template.index("}}")  # the end of the expression text


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('${{ fromJSON(\'{"os": ["linux", "mac"]}\') }}', {"os": ["linux", "mac"]}),
        ("${{ inputs.dry-run }}", False),
        ("${{ inputs.count }}", 3),
        ("${{ null }}", None),
        ("${{ matrix.versions }}", ["3.11", "3.12"]),
        ("${{ 1 }} ", "1 "),  # anything around the expression makes it text
        (" ${{ 1 }}", " 1"),
        ("${{ 1 }}${{ 2 }}", "12"),
        ("just text", "just text"),
    ],
)
def test_evaluate_value(template: str, expected: object) -> None:
    result = evaluate_value(template, CONTEXTS)
    assert result == expected
    assert type(result) is type(expected)


FAILED = JobStatus(failed=True)
CANCELLED = JobStatus(cancelled=True)


@pytest.mark.parametrize(
    ("condition", "status", "expected"),
    [
        ("github.ref == 'refs/heads/main'", None, True),
        ("${{ github.ref == 'refs/heads/main' }}", None, True),
        ("  ${{ github.ref == 'refs/heads/main' }}\n", None, True),
        ("github.ref == 'refs/heads/dev'", None, False),
        # Without a status function a condition means success() && (condition).
        ("github.ref == 'refs/heads/main'", FAILED, False),
        ("true", CANCELLED, False),
        ("failure()", FAILED, True),
        ("failure()", None, False),
        ("failure()", JobStatus(failed=True, cancelled=True), False),
        ("failure() || cancelled()", JobStatus(failed=True, cancelled=True), True),
        ("always()", FAILED, True),
        ("${{ always() }}", CANCELLED, True),
        ("cancelled()", CANCELLED, True),
        ("!cancelled()", FAILED, True),
        ("success() || failure()", FAILED, True),
        ("failure() && github.event_name == 'push'", FAILED, True),
        # Truthiness decides.
        ("steps.check.outputs.changed == 'true'", None, True),
        ("env.EMPTY", None, False),
        ("env.NAME", None, True),
        ("0", None, False),
        ("'false'", None, True),  # a non-empty string is true
        ("inputs.dry-run", None, False),
        ("", None, True),  # no condition at all is success()
        ("", FAILED, False),
        # GitHub's trap: mixing text and ${{ }} makes a non-empty string, which is true.
        ("${{ github.ref }} == 'refs/heads/dev'", None, True),
        ("${{ github.ref }} == 'refs/heads/dev'", FAILED, False),
        ("${{ env.EMPTY }}${{ env.EMPTY }}", None, False),
        ("${{ always() }} x", FAILED, True),
    ],
)
def test_evaluate_condition(condition: str, status: JobStatus | None, expected: bool) -> None:
    assert evaluate_condition(condition, CONTEXTS, status) is expected


def test_condition_is_not_evaluated_after_a_failure_unless_it_asks() -> None:
    # Would raise if evaluated; success() && (...) short-circuits first, as on GitHub.
    assert evaluate_condition("fromJSON('not json')", CONTEXTS, FAILED) is False
    with pytest.raises(ExpressionError):
        evaluate_condition("fromJSON('not json')", CONTEXTS)


@pytest.mark.parametrize(
    ("condition", "offset"),
    [
        ("github.ref ==", 13),
        ("  ${{ github.ref == }}", 20),
        ("${{ nope.x }}", 4),
        ("x ${{ a", 2),
    ],
)
def test_condition_errors_point_into_the_text_given(condition: str, offset: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate_condition(condition, CONTEXTS)
    assert caught.value.offset == offset
