"""The shared machinery of the parser: typed reads of YAML nodes that record problems.

Every read either returns a value or records a Problem at the node and returns
``None``; parsing goes on so that one run reports every problem of a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from conveyor.workflow.errors import Position, Problem
from conveyor.workflow.parse_exprs import check_condition, check_template
from conveyor.workflow.yamlsource import (
    NULL_TAG,
    Entry,
    Source,
    entries,
    is_mapping,
    is_null,
    is_scalar,
    is_sequence,
    kind_of,
)

# YAML 1.2 core schema, which is what GitHub reads: ``yes``/``on`` are strings there.
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_NULL = {"", "~", "null", "Null", "NULL"}
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


def suggestion(word: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when a known word is close, else ``""``."""
    known = sorted(known)
    import difflib  # only on the error path

    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if not close:
        close = [k for k in known if k.lower() == word.lower() or k == word.replace("_", "-")]
    return f"; did you mean '{close[0]}'?" if close else ""


def has_expression(text: str) -> bool:
    return "${{" in text


class Checker:
    """Collects the problems of one file while its nodes are read."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.problems: list[Problem] = []
        # job id -> each name in its ``needs`` -> the node, to point at a wrong name exactly
        self.needs_nodes: dict[str, dict[str, yaml.Node]] = {}

    # -- positions and problems -------------------------------------------------

    def at(self, node: yaml.Node) -> Position:
        return self.source.at(node)

    def problem(self, node: yaml.Node, message: str) -> None:
        self.problems.append(Problem(self.at(node), message))

    def problem_at(self, position: Position, message: str) -> None:
        self.problems.append(Problem(position, message))

    # -- mappings ---------------------------------------------------------------

    def mapping(self, node: yaml.Node, what: str, allow_null: bool = False) -> list[Entry] | None:
        """The entries of a mapping node, or None (with a problem) for anything else."""
        if allow_null and is_null(node):
            return []
        if not is_mapping(node):
            self.problem(node, f"{what} must be a mapping, got {kind_of(node)}")
            return None
        return list(entries(self.source, node, self.problems))

    def fields(
        self,
        node: yaml.Node,
        what: str,
        known: Iterable[str],
        unsupported: dict[str, str] | None = None,
        allow_null: bool = False,
    ) -> dict[str, Entry] | None:
        """A mapping with a fixed set of keys; unknown keys are problems with a suggestion."""
        found = self.mapping(node, what, allow_null=allow_null)
        if found is None:
            return None
        known = list(known)
        result: dict[str, Entry] = {}
        for entry in found:
            if unsupported and entry.key in unsupported:
                self.problem(entry.key_node, unsupported[entry.key])
            elif entry.key in known:
                result[entry.key] = entry
            else:
                hint = suggestion(entry.key, known)
                self.problem(entry.key_node, f"unknown key '{entry.key}' in {what}{hint}")
        return result

    def require(
        self,
        fields: dict[str, Entry],
        key: str,
        node: yaml.Node,
        what: str,
        at: yaml.Node | None = None,
    ) -> bool:
        """Report a missing key at ``at`` (default: the mapping) unless a misspelling was."""
        if key in fields:
            return True
        if is_mapping(node) and any(
            suggestion(other.value, [key]) for other, _ in node.value if is_scalar(other)
        ):
            return False  # a misspelling of it was already reported with "did you mean"
        self.problem(at or node, f"{what} is missing the required key '{key}'")
        return False

    # -- scalars ------------------------------------------------------------------

    def text(
        self, node: yaml.Node, what: str, expressions: bool = True, allow_null: bool = False
    ) -> str | None:
        """A scalar as the text the user wrote (``1.10`` stays ``"1.10"``)."""
        if not is_scalar(node):
            self.problem(node, f"{what} must be a string, got {kind_of(node)}")
            return None
        if node.tag == NULL_TAG and node.style in (None, ""):
            if allow_null:
                return ""
            self.problem(node, f"{what} must be a string, got nothing (null)")
            return None
        if expressions:
            check_template(self, node, node.value)
        return node.value

    def condition(self, node: yaml.Node, what: str) -> str | None:
        """An ``if:`` value: an expression with or without ``${{ }}``, or a literal bool."""
        if not is_scalar(node) or is_null(node):
            self.problem(node, f"{what} must be an expression, got {kind_of(node)}")
            return None
        check_condition(self, node, node.value)
        return node.value

    def boolean(self, node: yaml.Node, what: str) -> bool | str | None:
        """``true``/``false`` or an expression."""
        if is_scalar(node) and self._plain(node):
            if node.value in _TRUE:
                return True
            if node.value in _FALSE:
                return False
        if is_scalar(node) and has_expression(node.value):
            check_template(self, node, node.value)
            return node.value
        self.problem(node, f"{what} must be true, false or an expression, got {kind_of(node)}")
        return None

    def number(
        self, node: yaml.Node, what: str, integer: bool = False, minimum: float | None = None
    ) -> float | int | str | None:
        """A number or an expression."""
        if is_scalar(node) and self._plain(node):
            value = plain_number(node.value)
            if value is not None and not (integer and isinstance(value, float)):
                if minimum is not None and value < minimum:
                    self.problem(node, f"{what} must be at least {minimum:g}, got {node.value}")
                    return None
                return value
        if is_scalar(node) and has_expression(node.value):
            check_template(self, node, node.value)
            return node.value
        kind = "a whole number" if integer else "a number"
        self.problem(node, f"{what} must be {kind} or an expression, got {kind_of(node)}")
        return None

    def string_list(
        self, node: yaml.Node, what: str, single: bool = True, expressions: bool = True
    ) -> list[tuple[str, yaml.Node]] | None:
        """A list of strings (or, when ``single``, one string standing for a list of one)."""
        if single and is_scalar(node) and not is_null(node):
            value = self.text(node, what, expressions)
            return None if value is None else [(value, node)]
        if not is_sequence(node):
            form = "a string or a list of strings" if single else "a list of strings"
            self.problem(node, f"{what} must be {form}, got {kind_of(node)}")
            return None
        result = []
        for item in node.value:
            value = self.text(item, f"each item of {what}", expressions)
            if value is not None:
                result.append((value, item))
        return result

    def string_map(
        self, node: yaml.Node, what: str, key_pattern: re.Pattern[str] | None = None
    ) -> tuple[dict[str, Any], dict[str, Position]]:
        """``env:``/``with:``/``outputs:``: names to strings; numbers and bools as written.

        A key may be an expression, evaluated when the step runs; the key
        ``${{ insert }}`` takes a mapping (written out, or an expression giving one) whose
        entries are merged in its place, so its value is kept as a dict or a string.
        """
        values: dict[str, Any] = {}
        positions: dict[str, Position] = {}
        found = self.mapping(node, what, allow_null=True)
        for entry in found or []:
            if "${{" in entry.key:
                check_template(self, entry.key_node, entry.key)
                if is_mapping(entry.value) and _is_insert_key(entry.key):
                    values[entry.key], _ = self.string_map(entry.value, what, key_pattern)
                    positions[entry.key] = self.at(entry.value)
                    continue
            elif key_pattern is not None and not key_pattern.fullmatch(entry.key):
                self.problem(entry.key_node, f"invalid name '{entry.key}' in {what}")
                continue
            value = self.text(entry.value, f"{what}.{entry.key}", allow_null=True)
            if value is not None:
                values[entry.key] = value
                positions[entry.key] = self.at(entry.value)
        return values, positions

    def _plain(self, node: yaml.Node) -> bool:
        return node.style in (None, "")

    # -- any value ------------------------------------------------------------------

    def python(self, node: yaml.Node) -> Any:
        """A node as plain Python data, typed by YAML 1.2 core rules (for matrix, runs-on)."""
        if is_mapping(node):
            return {
                entry.key: self.python(entry.value)
                for entry in entries(self.source, node, self.problems)
            }
        if is_sequence(node):
            return [self.python(item) for item in node.value]
        if not self._plain(node):
            return node.value
        return plain_scalar(node.value)


def _is_insert_key(key: str) -> bool:
    # Spelled out rather than asked of the expression parser: this runs at load time.
    inner = key.strip()
    return inner.startswith("${{") and inner.endswith("}}") and inner[3:-2].strip() == "insert"


def plain_number(text: str) -> int | float | None:
    if _INT.fullmatch(text):
        return int(text, 0) if text[:2] in ("0o", "0x") else int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if text in (".inf", "+.inf", ".Inf", "+.Inf", ".INF", "+.INF"):
        return float("inf")
    return None


def plain_scalar(text: str) -> Any:
    """The value of an unquoted scalar under YAML 1.2's core schema."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text in _NULL:
        return None
    number = plain_number(text)
    return text if number is None else number
