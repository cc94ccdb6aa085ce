"""Strings that embed `${{ expr }}`: finding, interpolating and evaluating them, and `if:`."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from .errors import ExpressionError
from .evaluator import evaluate_node, uses_status_function
from .parser import parse
from .status import JobStatus
from .values import is_truthy, to_string

_OPEN = "${{"
_CLOSE = "}}"


def find_expressions(template: str) -> list[tuple[int, str]]:
    """(offset of the expression text, expression text) for each `${{ }}` in `template`.

    A `}}` inside a single-quoted string belongs to the expression. An unclosed `${{`
    raises ExpressionError at its offset.
    """
    return list(_find(template))


@functools.lru_cache(maxsize=4096)
def _find(template: str) -> tuple[tuple[int, str], ...]:
    found: list[tuple[int, str]] = []
    start = template.find(_OPEN)
    while start >= 0:
        body = start + len(_OPEN)
        end = _closing(template, body)
        if end < 0:
            raise ExpressionError(
                "Unclosed '${{': the expression needs a closing '}}'", start, template
            )
        found.append((body, template[body:end]))
        start = template.find(_OPEN, end + len(_CLOSE))
    return tuple(found)


def _closing(template: str, position: int) -> int:
    in_string = False
    while position < len(template):
        char = template[position]
        if char == "'":
            in_string = not in_string  # a doubled '' toggles twice and so stays inside
        elif not in_string and template.startswith(_CLOSE, position):
            return position
        position += 1
    return -1


def _evaluate_at(
    text: str, offset: int, template: str, contexts: Mapping[str, Any], status: JobStatus | None
) -> Any:
    try:
        return evaluate_node(parse(text), contexts, status)
    except ExpressionError as error:
        raise error.shifted(offset, template) from None


def interpolate(template: str, contexts: Mapping[str, Any], status: JobStatus | None = None) -> str:
    """`template` with every `${{ expr }}` replaced by its value as text (see to_string)."""
    expressions = _find(template)
    if not expressions:
        return template
    pieces: list[str] = []
    copied_up_to = 0
    for offset, text in expressions:
        pieces.append(template[copied_up_to : offset - len(_OPEN)])
        pieces.append(to_string(_evaluate_at(text, offset, template, contexts, status)))
        copied_up_to = offset + len(text) + len(_CLOSE)
    pieces.append(template[copied_up_to:])
    return "".join(pieces)


def _sole_expression(template: str) -> tuple[int, str] | None:
    """The expression when `template` is exactly one `${{ expr }}` and nothing else."""
    expressions = _find(template)
    if len(expressions) != 1:
        return None
    offset, text = expressions[0]
    whole = offset == len(_OPEN) and offset + len(text) + len(_CLOSE) == len(template)
    return (offset, text) if whole else None


def evaluate_value(
    template: str, contexts: Mapping[str, Any], status: JobStatus | None = None
) -> Any:
    """Like interpolate, but a template that is exactly one `${{ expr }}` gives the raw value.

    That is how `matrix: ${{ fromJSON(...) }}` yields an object and
    `continue-on-error: ${{ ... }}` a boolean.
    """
    sole = _sole_expression(template)
    if sole is None:
        return interpolate(template, contexts, status)
    offset, text = sole
    return _evaluate_at(text, offset, template, contexts, status)


def evaluate_condition(
    text: str, contexts: Mapping[str, Any], status: JobStatus | None = None
) -> bool:
    """Whether an `if:` holds.

    The condition may be bare or wrapped in `${{ }}`. Unless it calls success(), failure(),
    cancelled() or always(), it means `success() && (condition)`. A value that mixes text and
    `${{ }}` is a string, true when not empty, which is GitHub's behaviour too.
    """
    status = status or JobStatus()
    stripped = text.strip()
    if not stripped:
        return status.succeeded
    lead = len(text) - len(text.lstrip())
    try:
        sole = _sole_expression(stripped)
    except ExpressionError as error:
        raise error.shifted(lead, text) from None
    if sole is None and not _find(stripped):
        sole = (0, stripped)
    if sole is not None:
        offset, expression = sole
        try:
            node = parse(expression)
        except ExpressionError as error:
            raise error.shifted(lead + offset, text) from None
        if not uses_status_function(node) and not status.succeeded:
            return False
        try:
            return is_truthy(evaluate_node(node, contexts, status))
        except ExpressionError as error:
            raise error.shifted(lead + offset, text) from None
    nodes = []
    for offset, expression in _find(stripped):
        try:
            nodes.append(parse(expression))
        except ExpressionError as error:
            raise error.shifted(lead + offset, text) from None
    if not any(uses_status_function(node) for node in nodes) and not status.succeeded:
        return False
    try:
        return interpolate(stripped, contexts, status) != ""
    except ExpressionError as error:
        raise error.shifted(lead, text) from None
