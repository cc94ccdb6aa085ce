"""Checking ``${{ }}`` expressions in YAML scalars and pinning errors to line:column.

An error offset counts characters of the scalar's *value*; the file holds the
scalar's *source* (quotes, escapes, block indentation). ``value_position`` maps
one to the other: exactly for single-line scalars, and for multi-line ones by
anchoring on the ``${{`` that precedes the offset, which is exact on that line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import yaml

from conveyor.workflow import expressions
from conveyor.workflow.errors import Position

if TYPE_CHECKING:
    from conveyor.workflow.yamlsource import Source


class _Reporter(Protocol):
    source: Source

    def problem_at(self, position: Position, message: str) -> None: ...


def check_template(reporter: _Reporter, node: yaml.Node, text: str) -> None:
    """Parse every ``${{ }}`` in a string value; report the first error of each."""
    if "${{" not in text:
        return
    try:
        found = expressions.find_expressions(text)
    except expressions.ExpressionError as error:
        _report(reporter, node, error.offset, error.message)
        return
    for offset, inner in found:
        start = _inner_start(text, offset, inner)
        try:
            expressions.parse(inner)
        except expressions.ExpressionError as error:
            _report(reporter, node, start + error.offset, error.message)


def check_condition(reporter: _Reporter, node: yaml.Node, text: str) -> None:
    """An ``if:``: the whole value is one expression, ``${{ }}`` around it optional."""
    stripped = text.strip()
    if "${{" in stripped:
        check_template(reporter, node, text)
        return
    if not stripped:
        _report(reporter, node, 0, "an 'if' condition must not be empty")
        return
    try:
        expressions.parse(text)
    except expressions.ExpressionError as error:
        _report(reporter, node, error.offset, error.message)


def _inner_start(template: str, offset: int, inner: str) -> int:
    """Where ``inner`` begins in the template, whichever offset convention is used."""
    found = template.find(inner, offset) if inner else -1
    return found if found >= 0 else offset


def _report(reporter: _Reporter, node: yaml.Node, offset: int, message: str) -> None:
    position = value_position(reporter.source, node, offset)
    reporter.problem_at(position, f"invalid expression: {message}")


def value_position(source: Source, node: yaml.Node, offset: int) -> Position:
    """The file position of character ``offset`` of a scalar's value."""
    value: str = node.value
    offset = max(0, min(offset, len(value)))
    raw = source.raw(node)
    start = source.index_of(node.start_mark)
    style = node.style or ""
    if "\n" not in raw:
        return source.position_of_index(start + _single_line_offset(raw, style, value, offset))
    anchor = value.rfind("${{", 0, offset + 1)
    if anchor >= 0:
        raw_anchor = _nth(raw, "${{", value.count("${{", 0, anchor))
        between = value[anchor:offset]
        if raw_anchor is not None and "\n" not in between:
            return source.position_of_index(start + raw_anchor + len(between))
    return _walk_lines(source, node, raw, offset)


def _walk_lines(source: Source, node: yaml.Node, raw: str, offset: int) -> Position:
    """Approximate: each source line gives its text (indentation removed) plus one break.

    That is exact for literal blocks and close for folded blocks and multi-line
    plain or quoted scalars, whose line breaks fold into single spaces.
    """
    style = node.style or ""
    lines = raw.split("\n")
    first_line0 = node.start_mark.line
    starts: list[tuple[int, int, str]] = []  # (line0, column0 where the text starts, text)
    if style in ("|", ">"):
        body = lines[1:]
        indents = [len(line) - len(line.lstrip(" ")) for line in body if line.strip()]
        indent = indents[0] if indents else 0
        for number, line in enumerate(body, start=1):
            starts.append((first_line0 + number, indent, line[indent:]))
    else:
        quote = 1 if style in ("'", '"') else 0
        starts.append((first_line0, node.start_mark.column + quote, lines[0][quote:]))
        for number, line in enumerate(lines[1:], start=1):
            stripped = line.lstrip(" \t")
            starts.append((first_line0 + number, len(line) - len(stripped), stripped))
    remaining = offset
    for line0, column0, text in starts:
        if remaining <= len(text):
            return source.position(line0, column0 + remaining)
        remaining -= len(text) + 1
    return source.position(node.end_mark.line, node.end_mark.column)


def _nth(text: str, needle: str, n: int) -> int | None:
    index = -1
    for _ in range(n + 1):
        index = text.find(needle, index + 1)
        if index < 0:
            return None
    return index


_ESCAPE_LENGTHS = {"x": 4, "u": 6, "U": 10}


def _single_line_offset(raw: str, style: str, value: str, offset: int) -> int:
    """Offset in the raw text of a one-line scalar for an offset in its value."""
    if style == "'":
        raw_index, value_index = 1, 0
        while value_index < offset and raw_index < len(raw):
            raw_index += 2 if raw.startswith("''", raw_index) else 1
            value_index += 1
        return raw_index
    if style == '"':
        raw_index, value_index = 1, 0
        while value_index < offset and raw_index < len(raw):
            if raw[raw_index] == "\\" and raw_index + 1 < len(raw):
                raw_index += _ESCAPE_LENGTHS.get(raw[raw_index + 1], 2)
            else:
                raw_index += 1
            value_index += 1
        return raw_index
    # A plain scalar's value is its raw text with surrounding spaces removed.
    lead = len(raw) - len(raw.lstrip(" "))
    return lead + offset if raw[lead:].startswith(value[:offset]) else offset
