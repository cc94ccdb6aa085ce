"""PyYAML's syntax errors said in a workflow's terms, at the place to fix.

The scanner's own words ("found unexpected end of stream", "did not find expected
key") describe its state, not the mistake, and often point past it (an unclosed
quote is reported at the end of the file). Both loaders (libyaml and pure Python)
word their errors differently, so the mistake is recognised from the error's
context and the text at its marks rather than from the exact message.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import yaml

from conveyor.workflow.errors import Problem

if TYPE_CHECKING:
    from conveyor.workflow.yamlsource import Source

_QUOTES = "\"'"
_KEY = re.compile(r"\s*(?:-\s+)?(?P<key>[^\s:#][^:#]*?)\s*:(?:\s|$)")


def explain(source: Source, error: yaml.MarkedYAMLError) -> Problem | None:
    """A clearer problem for the common mistakes, or None to keep PyYAML's words."""
    problem = error.problem or ""
    context = error.context or ""
    mark, start = error.problem_mark, error.context_mark
    if mark is None:
        return None
    lines = [line.rstrip("\r") for line in source.text.split("\n")]
    if "quoted scalar" in context and "end of stream" in problem and start is not None:
        return _unclosed_quote(source, lines, start)
    if "mapping values are not allowed" in problem:
        return _colon_in_value(source, lines, mark)
    if "could not find expected ':'" in problem and start is not None:
        return _missing_colon(source, lines, start)
    if "block collection" in context and (
        "expected '-'" in problem or "expected <block end>" in problem
    ):
        return _not_a_list_item(source, lines, mark, start)
    if "block mapping" in context and (
        "expected key" in problem or "expected <block end>" in problem
    ):
        return _misplaced_in_mapping(source, lines, mark)
    return None


def _unclosed_quote(source: Source, lines: list[str], start: yaml.Mark) -> Problem:
    quote = _char(lines, start.line, start.column) or '"'
    return Problem(
        source.position(start.line, start.column),
        f"the {quote} that opens this value on line {start.line + 1} is never closed: "
        f"add a closing {quote} at the end of the value (or remove this one)",
    )


def _colon_in_value(source: Source, lines: list[str], mark: yaml.Mark) -> Problem:
    where = source.position(mark.line, mark.column)
    text = lines[mark.line] if mark.line < len(lines) else ""
    first = _KEY.match(text)
    if first is not None and first.end() <= mark.column:
        key = first.group("key")
        value = text[first.end() :].strip()
        return Problem(
            where,
            f"a ':' inside the value of '{key}': quote the value, e.g. {key}: {_quoted(value)}",
        )
    # The ':' is the first on its line: the line continues the value of the line above.
    above = _previous_content_line(lines, mark.line)
    indent = _indent(text)
    if above is not None and _indent(lines[above]) < indent:
        return Problem(
            where,
            f"this line is indented more than line {above + 1} above it, so it reads as part "
            f"of that line's value: line the keys up (column {_indent(lines[above]) + 1}), "
            "or quote the value if its ':' belongs to it",
        )
    return Problem(where, "a ':' inside a value: quote the value")


def _missing_colon(source: Source, lines: list[str], start: yaml.Mark) -> Problem:
    text = lines[start.line][start.column :] if start.line < len(lines) else ""
    word = text.split("#")[0].strip()[:40] or "this"
    return Problem(
        source.position(start.line, start.column),
        f"'{word}' is not followed by ':': write '{word}: value', or, if it continues "
        "the value above, indent it more than that value's key",
    )


def _not_a_list_item(
    source: Source, lines: list[str], mark: yaml.Mark, start: yaml.Mark | None
) -> Problem | None:
    if not _starts_line(lines, mark):
        return None
    dash = f"line {start.line + 1}, column {start.column + 1}" if start else "the items above"
    if _char(lines, mark.line, mark.column) == "-":
        return Problem(
            source.position(mark.line, mark.column),
            f"a list item's '-' is not lined up with the items above it ({dash})",
        )
    return Problem(
        source.position(mark.line, mark.column),
        f"this line is lined up with the list's '-' ({dash}) but is not a list item: "
        "start it with '- ', or indent it under the item it belongs to",
    )


def _misplaced_in_mapping(source: Source, lines: list[str], mark: yaml.Mark) -> Problem | None:
    where = source.position(mark.line, mark.column)
    if not _starts_line(lines, mark):
        return _text_after_quote(source, lines, mark)
    if _char(lines, mark.line, mark.column) == "-":
        item = _previous_list_item(lines, mark.line)
        above = f" (line {item[0] + 1}, column {item[1] + 1})" if item else ""
        return Problem(where, f"a list item's '-' is not lined up with the items above it{above}")
    above = _previous_content_line(lines, mark.line)
    if above is None:
        return None
    return Problem(
        where,
        f"this key (column {mark.column + 1}) is not lined up with the keys above it "
        f"(line {above + 1}, column {_indent(lines[above]) + 1}): indent it like the keys "
        "it belongs with",
    )


def _text_after_quote(source: Source, lines: list[str], mark: yaml.Mark) -> Problem | None:
    text = lines[mark.line]
    before = text[: mark.column].rstrip()
    if not before or before[-1] not in _QUOTES:
        return None
    quote = before[-1]
    where = source.position(mark.line, mark.column)
    if text[: mark.column].count(quote) % 2 == 1:
        # This quote closes one opened on an earlier line, which was left open.
        for line0 in range(mark.line - 1, -1, -1):
            if lines[line0].count(quote) % 2 == 1:
                return Problem(
                    source.position(line0, lines[line0].rfind(quote)),
                    f"the {quote} that opens this value on line {line0 + 1} is not closed on "
                    f"its line, so the value runs on to the {quote} on line {mark.line + 1}: "
                    f"add a closing {quote} at the end of line {line0 + 1}",
                )
    return Problem(
        where,
        f"text after the closing {quote} of a quoted value: quote the whole value",
    )


def _quoted(value: str) -> str:
    if '"' not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "''") + "'"


def _char(lines: list[str], line0: int, column0: int) -> str:
    if line0 < len(lines) and column0 < len(lines[line0]):
        return lines[line0][column0]
    return ""


def _starts_line(lines: list[str], mark: yaml.Mark) -> bool:
    return mark.line < len(lines) and not lines[mark.line][: mark.column].strip()


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _is_content(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and not stripped.startswith("#")


def _previous_content_line(lines: list[str], line0: int) -> int | None:
    for above in range(min(line0, len(lines)) - 1, -1, -1):
        if _is_content(lines[above]):
            return above
    return None


def _previous_list_item(lines: list[str], line0: int) -> tuple[int, int] | None:
    for above in range(min(line0, len(lines)) - 1, -1, -1):
        stripped = lines[above].lstrip(" ")
        if stripped == "-" or stripped.startswith("- "):
            return above, _indent(lines[above])
    return None
