"""The built-in functions: their names, how many arguments they take, and what they do.

Each implementation receives an Invocation whose arguments are evaluated on demand, so that
case() and format() evaluate only what they use, as GitHub does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ExpressionError
from .hashfiles import hash_files
from .status import JobStatus
from .values import (
    Kind,
    fold_case,
    is_primitive,
    kind_of,
    loose_equal,
    to_function_string,
    to_json,
)


@dataclass(frozen=True)
class Invocation:
    name: str
    arguments: tuple[Callable[[], Any], ...]  # each evaluates one argument when called
    contexts: Mapping[str, Any]
    status: JobStatus
    offset: int  # where the call starts, for errors

    def argument(self, index: int) -> Any:
        return self.arguments[index]()

    def error(self, message: str) -> ExpressionError:
        return ExpressionError(f"{self.name}(): {message}", self.offset)


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    min_arguments: int
    max_arguments: int
    implementation: Callable[[Invocation], Any]


def _contains(call: Invocation) -> bool:
    haystack = call.argument(0)
    if is_primitive(haystack):
        needle = call.argument(1)
        if not is_primitive(needle):
            return False
        return fold_case(to_function_string(needle)) in fold_case(to_function_string(haystack))
    if kind_of(haystack) is Kind.ARRAY and haystack:
        needle = call.argument(1)
        return any(loose_equal(needle, item) for item in haystack)
    return False


def _starts_with(call: Invocation) -> bool:
    text = call.argument(0)
    if not is_primitive(text):
        return False
    prefix = call.argument(1)
    if not is_primitive(prefix):
        return False
    return fold_case(to_function_string(text)).startswith(fold_case(to_function_string(prefix)))


def _ends_with(call: Invocation) -> bool:
    text = call.argument(0)
    if not is_primitive(text):
        return False
    suffix = call.argument(1)
    if not is_primitive(suffix):
        return False
    return fold_case(to_function_string(text)).endswith(fold_case(to_function_string(suffix)))


class FormatProblem(ValueError):
    """A format() template that cannot work; the message says why, without quoting it."""


def format_segments(template: str, supplied: int) -> list[str | int]:
    """`template` split into literal text and argument numbers, braces unescaped.

    Raises FormatProblem for a stray brace, a format specifier, or a reference to an
    argument beyond the `supplied` ones.
    """
    segments: list[str | int] = []
    position = 0
    while position < len(template):
        left = template.find("{", position)
        right = template.find("}", position)
        if left >= 0 and (right < 0 or left < right):
            if template[left + 1 : left + 2] == "{":
                segments.append(template[position : left + 1])
                position = left + 2
                continue
            digits_end = left + 1
            while digits_end < len(template) and template[digits_end] in "0123456789":
                digits_end += 1
            if digits_end == left + 1 or template[digits_end : digits_end + 1] != "}":
                if template[digits_end : digits_end + 1] == ":" and digits_end > left + 1:
                    raise FormatProblem("format specifiers such as {0:...} are not supported")
                raise FormatProblem(
                    f"the format string is invalid: '{{' at index {left} must start '{{N}}'"
                    " or be doubled as '{{'"
                )
            number = int(template[left + 1 : digits_end])
            if number >= supplied:
                raise FormatProblem(
                    f"the format string refers to argument {{{number}}} but "
                    f"{_count(supplied, 'argument')} after it"
                )
            segments.append(template[position:left])
            segments.append(number)
            position = digits_end + 1
        elif right >= 0:
            if template[right + 1 : right + 2] != "}":
                raise FormatProblem(
                    f"the format string is invalid: '}}' at index {right} must close '{{N}}'"
                    " or be doubled as '}}'"
                )
            segments.append(template[position : right + 1])
            position = right + 2
        else:
            segments.append(template[position:])
            break
    return segments


def _format(call: Invocation) -> str:
    template = to_function_string(call.argument(0))
    try:
        segments = format_segments(template, len(call.arguments) - 1)
    except FormatProblem as problem:
        raise call.error(str(problem)) from None
    # Each argument is evaluated once, and only if the template uses it.
    texts: dict[int, str] = {}
    out: list[str] = []
    for segment in segments:
        if isinstance(segment, str):
            out.append(segment)
            continue
        if segment not in texts:
            texts[segment] = to_function_string(call.argument(segment + 1))
        out.append(texts[segment])
    return "".join(out)


def _count(number: int, noun: str) -> str:
    if number == 0:
        return f"no {noun}s were given"
    return f"only {number} {noun}{'s were' if number != 1 else ' was'} given"


def _join(call: Invocation) -> str:
    items = call.argument(0)
    if kind_of(items) is Kind.ARRAY and items:
        separator = ","
        if len(items) > 1 and len(call.arguments) > 1:
            given = call.argument(1)
            if is_primitive(given):
                separator = to_function_string(given)
        return separator.join(to_function_string(item) for item in items)
    if is_primitive(items):
        return to_function_string(items)
    return ""


def _to_json(call: Invocation) -> str:
    try:
        return to_json(call.argument(0))
    except RecursionError:
        raise call.error("the value is nested too deeply to convert") from None


def _from_json(call: Invocation) -> Any:
    text = to_function_string(call.argument(0))
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise call.error(
            f"the argument is not valid JSON: {error.msg} at line {error.lineno} "
            f"column {error.colno}"
        ) from None
    except RecursionError:
        raise call.error("the JSON is nested too deeply") from None


_FOLLOW_SYMLINKS = "--follow-symbolic-links"


def _hash_files(call: Invocation) -> str:
    patterns = [to_function_string(call.argument(i)) for i in range(len(call.arguments))]
    follow = bool(patterns) and patterns[0] == _FOLLOW_SYMLINKS
    if follow:
        patterns = patterns[1:]
    workspace = _lookup(_lookup(call.contexts, "github"), "workspace")
    if not isinstance(workspace, str) or not workspace:
        raise call.error("github.workspace is not set, so there is no directory to search")
    return hash_files(Path(workspace), patterns, follow_symlinks=follow, offset=call.offset)


def _lookup(mapping: Any, key: str) -> Any:
    if not isinstance(mapping, Mapping):
        return None
    if key in mapping:
        return mapping[key]
    folded = fold_case(key)
    for candidate, value in mapping.items():
        if isinstance(candidate, str) and fold_case(candidate) == folded:
            return value
    return None


def _case(call: Invocation) -> Any:
    last = len(call.arguments) - 1
    for index in range(0, last, 2):
        predicate = call.argument(index)
        if kind_of(predicate) is not Kind.BOOLEAN:
            raise call.error(
                f"argument {index + 1} is a condition and must be a boolean, "
                f"not {kind_of(predicate).value}"
            )
        if predicate:
            return call.argument(index + 1)
    return call.argument(last)


_MANY = 255  # GitHub's limit on arguments to a variadic function

FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name.lower(): spec
    for spec in (
        FunctionSpec("contains", 2, 2, _contains),
        FunctionSpec("startsWith", 2, 2, _starts_with),
        FunctionSpec("endsWith", 2, 2, _ends_with),
        FunctionSpec("format", 1, _MANY, _format),
        FunctionSpec("join", 1, 2, _join),
        FunctionSpec("toJSON", 1, 1, _to_json),
        FunctionSpec("fromJSON", 1, 1, _from_json),
        FunctionSpec("hashFiles", 1, _MANY, _hash_files),
        FunctionSpec("case", 3, _MANY, _case),
        FunctionSpec("success", 0, 0, lambda call: call.status.succeeded),
        FunctionSpec("failure", 0, 0, lambda call: call.status.failing),
        FunctionSpec("cancelled", 0, 0, lambda call: call.status.cancelled),
        FunctionSpec("always", 0, 0, lambda call: True),
    )
}
"""Functions by lower-cased name: GitHub matches function names without regard to case."""
