"""Literals, operators, precedence, coercion and property access, from GitHub's documentation."""

from __future__ import annotations

import math

import pytest

from conveyor.workflow.expressions import evaluate

CONTEXTS = {
    "github": {
        "ref": "refs/heads/main",
        "event_name": "push",
        "event": {
            "issue": {"labels": [{"name": "bug"}, {"name": "help wanted"}, {"id": 3}]},
            "commits": [{"id": "a1", "author": {"name": "Mona"}}, {"id": "b2"}],
        },
    },
    "env": {"MyVar": "value", "EMPTY": "", "NUMBER": "42"},
    "matrix": {"os": "ubuntu-latest", "python": 3.11, "include": [1, 2]},
    "steps": {"build-step": {"outputs": {"result": "ok"}, "conclusion": "success"}},
    "fruits": [
        {"name": "apple", "quantity": 1},
        {"name": "orange", "quantity": 2},
        {"name": "pear", "quantity": 1},
    ],
    "vegetables": {
        "spinach": {"colors": ["green"]},
        "carrot": {"colors": ["orange", "purple"]},
    },
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("null", None),
        ("true", True),
        ("false", False),
        ("711", 711),
        ("-9.2", -9.2),
        ("0xff", 255),
        ("0xFF", 255),
        ("-2.99e-2", -0.0299),
        ("1e3", 1000.0),
        ("1E+3", 1000.0),
        ("+5", 5),
        (".5", 0.5),
        ("0o17", 15),
        ("'Mona the Octocat'", "Mona the Octocat"),
        ("'It''s open source!'", "It's open source!"),
        ("''", ""),
        ("''''", "'"),
        ("'}} and ${{'", "}} and ${{"),
        ("Infinity", math.inf),
        ("-Infinity", -math.inf),
        ("  42  ", 42),
    ],
)
def test_literals(text: str, expected: object) -> None:
    result = evaluate(text, {})
    assert result == expected
    assert type(result) is type(expected)


def test_nan_literal_is_a_number_that_is_not_equal_to_itself() -> None:
    assert math.isnan(evaluate("NaN", {}))
    assert evaluate("NaN == NaN", {}) is False
    assert evaluate("NaN != NaN", {}) is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Strings compare without regard to case.
        ("'abc' == 'ABC'", True),
        ("'abc' != 'ABD'", True),
        ("'a' < 'B'", True),
        ("'B' > 'a'", True),
        ("'abc' <= 'ABC'", True),
        ("'abd' >= 'ABC'", True),
        # Numbers.
        ("1 < 2", True),
        ("2 <= 2", True),
        ("3 > 2", True),
        ("3 >= 4", False),
        ("1 == 1.0", True),
        ("0x10 == 16", True),
        # Mixed kinds become numbers: null 0, true 1, false 0, strings parsed.
        ("null == 0", True),
        ("null == false", True),
        ("true == 1", True),
        ("false == 0", True),
        ("true == 2", False),
        ("'1' == 1", True),
        ("'' == 0", True),
        ("' 42 ' == 42", True),
        ("'0x1A' == 26", True),
        ("'1e2' == 100", True),
        ("'abc' == 0", False),
        ("'abc' != 0", True),
        ("'true' == true", False),
        ("'1' == true", True),
        ("null == ''", True),
        ("null == null", True),
        ("null < 1", True),
        ("true > false", True),
        ("false < true", True),
        ("true < 2", True),
        ("'10' > 9", True),
        ("'10' > '9'", False),  # both strings: compared as text
        ("'abc' < 1", False),  # NaN compares false every way
        ("'abc' >= 1", False),
        ("null <= null", True),
        ("null < null", False),
        # Arrays and objects are equal only to themselves.
        ("github.event == github.event", True),
        ("github.event == github['event']", True),
        ("fruits == fromJSON('[]')", False),
        ("toJSON(fruits) == toJSON(fruits)", True),
        ("fromJSON('[]') == fromJSON('[]')", False),
        ("github.event == 'Object'", False),
        ("github.event == 0", False),
        ("github.event != null", True),
        ("fruits < 1", False),
    ],
)
def test_comparisons_follow_githubs_coercion_rules(text: str, expected: bool) -> None:
    assert evaluate(text, CONTEXTS) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # && and || give back an operand, not a boolean.
        ("'a' && 'b'", "b"),
        ("'' && 'b'", ""),
        ("0 && 'b'", 0),
        ("null && 'b'", None),
        ("'a' || 'b'", "a"),
        ("'' || 'b'", "b"),
        ("false || 0", 0),
        ("null || false || ''", ""),
        ("1 && 2 && 3", 3),
        ("github.ref == 'refs/heads/main' && 'production' || 'staging'", "production"),
        ("github.ref == 'refs/heads/dev' && 'production' || 'staging'", "staging"),
        # Not.
        ("!true", False),
        ("!0", True),
        ("!''", True),
        ("!'false'", False),
        ("!null", True),
        ("!NaN", True),
        ("!-0", True),
        ("!fromJSON('{}')", False),
        ("!fromJSON('[]')", False),
        ("!!'x'", True),
    ],
)
def test_logical_operators(text: str, expected: object) -> None:
    assert evaluate(text, CONTEXTS) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true || false && false", True),  # && binds tighter than ||
        ("(true || false) && false", False),
        ("false && false || true", True),
        ("!false && false", False),  # ! binds tighter than &&
        ("!(false && false)", True),
        ("1 < 2 == true", True),  # comparison binds tighter than equality
        ("true == 1 < 2", True),
        ("1 == 1 && 2 == 2", True),
        ("!1 == 0", True),  # (!1) == 0
        ("!(1 == 0)", True),
        ("'a' == 'a' || x", True),
        ("1 < 2 < 3", True),  # left to right: (true) < 3
        ("3 > 2 > 1", False),  # (true) > 1 is 1 > 1
    ],
)
def test_precedence(text: str, expected: bool) -> None:
    assert evaluate(text, {"x": None}) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("github.ref", "refs/heads/main"),
        ("GITHUB.Ref", "refs/heads/main"),  # contexts and properties ignore case
        ("github['ref']", "refs/heads/main"),
        ("github['REF']", "refs/heads/main"),
        ("env.myvar", "value"),
        ("steps.build-step.outputs.result", "ok"),
        ("steps['build-step'].conclusion", "success"),
        ("github.missing", None),
        ("github.missing.deeper", None),
        ("github.ref.length", None),
        ("fruits[0].name", "apple"),
        ("fruits[2]['name']", "pear"),
        ("fruits['1'].name", "orange"),  # index strings become numbers for arrays
        ("fruits[1.7].name", "orange"),  # and fractions round down
        ("fruits[3]", None),
        ("fruits[-1]", None),
        ("fruits['x']", None),
        ("fruits[Infinity]", None),
        ("fruits[NaN]", None),
        ("fruits.name", None),
        ("matrix.include[true]", 2),
        ("github.event.commits[0].author.name", "Mona"),
        ("github[format('{0}', 'ref')]", "refs/heads/main"),
        ('fromJSON(\'{"1": "one"}\')[1]', "one"),  # numbers become text for objects
        ('fromJSON(\'{"a": {"b": 7}}\').a.b', 7),
        ("(github).ref", "refs/heads/main"),
        ("matrix.python", 3.11),
    ],
)
def test_property_and_index_access(text: str, expected: object) -> None:
    assert evaluate(text, CONTEXTS) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fruits.*.name", ["apple", "orange", "pear"]),
        ("fruits[*].quantity", [1, 2, 1]),
        ("github.event.issue.labels.*.name", ["bug", "help wanted"]),  # missing names skipped
        ("vegetables.*.colors", [["green"], ["orange", "purple"]]),
        ("vegetables.*.colors.*", ["green", "orange", "purple"]),  # a filter flattens
        ("vegetables.*.colors[0]", ["green", "orange"]),
        ("vegetables.*.colors[1]", ["purple"]),
        ("github.event.commits.*.author.name", ["Mona"]),
        ("fruits.*", CONTEXTS["fruits"]),
        ("github.ref.*", []),
        ("github.missing.*", []),
        ("fruits.*.name[0]", []),  # strings are not indexed by a filter
        ("(fruits.*).name", ["apple", "orange", "pear"]),
    ],
)
def test_object_filters(text: str, expected: list) -> None:
    result = evaluate(text, CONTEXTS)
    assert result == expected
    assert type(result) is list


def test_filter_results_feed_functions() -> None:
    assert evaluate("contains(fruits.*.name, 'ORANGE')", CONTEXTS) is True
    assert evaluate("join(fruits.*.name, ', ')", CONTEXTS) == "apple, orange, pear"
    assert evaluate("fruits.*.name[1]", CONTEXTS) == []


@pytest.mark.parametrize(
    ("text", "truthy"),
    [
        ("false", False),
        ("0", False),
        ("-0", False),
        ("''", False),
        ("null", False),
        ("NaN", False),
        ("true", True),
        ("1", True),
        ("-1", True),
        ("'0'", True),
        ("'false'", True),
        ("' '", True),
        ("fromJSON('[]')", True),
        ("fromJSON('{}')", True),
        ("Infinity", True),
    ],
)
def test_truthiness_as_seen_through_not(text: str, truthy: bool) -> None:
    assert evaluate(f"!({text})", {}) is (not truthy)
