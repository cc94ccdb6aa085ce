"""Syntax errors point at the offending token; parse checks functions and argument counts."""

from __future__ import annotations

import pickle

import pytest

from conveyor.workflow.expressions import (
    ExpressionError,
    evaluate,
    parse,
    referenced_contexts,
    uses_status_function,
)


@pytest.mark.parametrize(
    ("text", "offset", "message"),
    [
        ("", 0, "Expected an expression"),
        ("   ", 0, "Expected an expression"),
        ('"double"', 0, "single quotes"),
        ("'unterminated", 0, "Unterminated string"),
        ("a == 'open", 5, "Unterminated string"),
        ("a = b", 2, "did you mean '=='"),
        ("a & b", 2, "did you mean '&&'"),
        ("a | b", 2, "did you mean '||'"),
        ("a ==", 4, "Unexpected end of expression"),
        ("a &&", 4, "Unexpected end of expression"),
        ("!", 1, "Unexpected end of expression"),
        ("a b", 2, "Unexpected symbol 'b'"),
        ("1 2", 2, "Unexpected symbol '2'"),
        ("(a", 0, "Missing ')' to close the '('"),
        ("a[0", 1, "Missing ']' to close the '['"),
        ("f(1", 0, "Unrecognized function 'f'"),
        ("format('x'", 6, "Missing ')'"),
        ("a)", 1, "Unexpected symbol ')'"),
        ("a]", 1, "Unexpected symbol ']'"),
        ("()", 1, "Unexpected symbol ')'"),
        ("a[]", 2, "Unexpected symbol ']'"),
        ("a.", 2, "Expected a property name"),
        ("a.'b'", 2, "a property name or '*' must follow '.'"),
        ("a.0", 2, "a property name or '*' must follow '.'"),
        ("'abc'.length", 5, "Unexpected symbol '.'"),
        ("true.x", 4, "Unexpected symbol '.'"),
        ("'abc'[0]", 5, "Unexpected symbol '['"),
        ("1.2.3", 0, "Invalid number '1.2.3'"),
        ("0x", 0, "Invalid number '0x'"),
        ("12abc", 0, "Invalid number '12abc'"),
        ("-", 0, "Invalid number '-'"),
        ("github.event$", 7, "Unexpected symbol 'event$'"),
        ("$github", 0, "Unexpected symbol '$github'"),
        ("a == @", 5, "Unexpected symbol '@'"),
        ("contains('a',)", 13, "Unexpected symbol ')'"),
        ("contains(,'a')", 9, "Unexpected symbol ','"),
        ("*", 0, "Unexpected symbol '*'"),
        ("a.b.*.", 6, "Expected a property name"),
        ("a[*", 1, "Missing ']'"),
        ("true(1)", 4, "Unexpected symbol '('"),
    ],
)
def test_syntax_errors_carry_the_offset_of_the_offending_token(
    text: str, offset: int, message: str
) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert message in caught.value.message
    assert caught.value.offset == offset
    assert caught.value.expression == text


@pytest.mark.parametrize(
    ("text", "offset", "message"),
    [
        ("foo()", 0, "Unrecognized function 'foo'"),
        ("a == toJson2(1)", 5, "Unrecognized function 'toJson2'"),
        ("contains('a')", 0, "Too few arguments to contains(): it takes 2 arguments, got 1"),
        ("x || contains('a', 'b', 'c')", 5, "Too many arguments to contains(): it takes 2"),
        ("join()", 0, "Too few arguments to join(): it takes 1 or 2 arguments, got 0"),
        ("join(a, b, c)", 0, "Too many arguments to join(): it takes 1 or 2 arguments, got 3"),
        ("format()", 0, "Too few arguments to format(): it takes at least 1 argument, got 0"),
        ("toJSON(1, 2)", 0, "Too many arguments to toJSON(): it takes 1 argument, got 2"),
        ("success(1)", 0, "Too many arguments to success(): it takes no arguments, got 1"),
        ("hashFiles()", 0, "Too few arguments to hashFiles()"),
        ("case(true, 'a')", 0, "Too few arguments to case()"),
        ("case(true, 'a', false, 'b')", 0, "case() takes an odd number of arguments"),
    ],
)
def test_functions_are_checked_when_parsing(text: str, offset: int, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert message in caught.value.message
    assert caught.value.offset == offset


def test_the_error_text_names_the_position_and_the_expression() -> None:
    with pytest.raises(ExpressionError) as caught:
        parse("a == 'open")
    assert str(caught.value) == (
        "Unterminated string: a closing ' is missing (position 6 in expression: a == 'open)"
    )


def test_nesting_is_limited_like_github_instead_of_overflowing_the_stack() -> None:
    parse("(" * 40 + "a" + ")" * 40)
    with pytest.raises(ExpressionError, match="deeper than the limit of 50"):
        parse("(" * 500 + "a" + ")" * 500)
    with pytest.raises(ExpressionError, match="deeper than the limit of 50"):
        parse("!" * 500 + "a")
    with pytest.raises(ExpressionError, match="deeper than the limit of 50"):
        parse(" == ".join(["a"] * 200))


def test_long_and_or_chains_stay_flat() -> None:
    assert evaluate(" || ".join(["false"] * 300 + ["'last'"]), {}) == "last"
    assert evaluate(" && ".join(["true"] * 300), {}) is True


def test_length_is_limited_like_github() -> None:
    with pytest.raises(ExpressionError, match="longer than the limit"):
        parse("'" + "x" * 21000 + "'")


def test_parse_is_cached() -> None:
    text = "github.ref == 'refs/heads/cache-check'"
    assert parse(text) is parse(text)


def test_whitespace_is_insignificant_but_offsets_count_it() -> None:
    spaced = parse("  a.b  ==  'x'  ")
    assert spaced.offset == 2
    assert spaced.right.offset == 11
    assert evaluate("\n a \t==\n 'x' ", {"a": "X"}) is True


@pytest.mark.parametrize(
    ("text", "offset", "name"),
    [
        ("foo.bar", 0, "foo"),
        ("false && nope.x", 9, "nope"),  # rejected even where it would not be evaluated
        ("github.ref == matrix.os", 14, "matrix"),
    ],
)
def test_unknown_context_names_are_rejected(text: str, offset: int, name: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate(text, {"github": {"ref": "x"}})
    assert caught.value.message == f"Unrecognized named-value: '{name}'"
    assert caught.value.offset == offset


def test_context_names_ignore_case() -> None:
    assert evaluate("GitHub.REF", {"github": {"ref": "r"}}) == "r"
    assert evaluate("github.ref", {"GITHUB": {"ref": "r"}}) == "r"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("github.ref", {"github"}),
        ("GITHUB.ref == Matrix.os", {"github", "matrix"}),
        ("format('{0}', env.A, secrets.B)", {"env", "secrets"}),
        ("steps.a.outputs[inputs.key]", {"steps", "inputs"}),
        ("success() && 'x'", set()),
        ("fromJSON(needs.build.outputs.m).x.*.y", {"needs"}),
    ],
)
def test_referenced_contexts(text: str, names: set[str]) -> None:
    assert referenced_contexts(parse(text)) == names


@pytest.mark.parametrize(
    ("text", "uses"),
    [
        ("success()", True),
        ("always()", True),
        ("FAILURE()", True),
        ("github.ref == 'x' || cancelled()", True),
        ("!cancelled() && x", True),
        ("github.ref == 'x'", False),
        ("contains('success()', 'x')", False),
        ("x.success", False),
    ],
)
def test_uses_status_function(text: str, uses: bool) -> None:
    assert uses_status_function(parse(text)) is uses


def test_errors_survive_pickling_for_workers_in_other_processes() -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate("a ==", {})
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.message, copy.offset, copy.expression) == (
        "Unexpected end of expression",
        4,
        "a ==",
    )
