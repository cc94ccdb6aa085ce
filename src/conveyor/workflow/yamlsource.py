"""YAML text to a node tree in which every node knows its line and column.

We compose (never construct) so that keys such as ``on`` or ``yes`` stay the text
the user wrote instead of YAML 1.1 booleans, and so that every value can be
traced back to ``file:line:column`` when it turns out to be wrong.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

import yaml

from conveyor.workflow.errors import Position, Problem, WorkflowInvalid
from conveyor.workflow.limits import MAX_SOURCE_BYTES

# The characters YAML allows in a stream: PyYAML's own pattern, compiled once at its
# import (a second copy of this wide character class costs ~3 ms of start-up).
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE

_Loader = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader

MAPPING_TAG = "tag:yaml.org,2002:map"
SEQUENCE_TAG = "tag:yaml.org,2002:seq"
MERGE_TAG = "tag:yaml.org,2002:merge"
NULL_TAG = "tag:yaml.org,2002:null"
BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"


@dataclass
class Source:
    """The decoded text of one YAML file and the name used in messages."""

    path: str
    text: str

    def __post_init__(self) -> None:
        self._line_starts = [0]
        for index, char in enumerate(self.text):
            if char == "\n":
                self._line_starts.append(index + 1)

    def position(self, line0: int, column0: int) -> Position:
        """A position from PyYAML's 0-based line and column."""
        return Position(self.path, line0 + 1, column0 + 1)

    def at(self, node: yaml.Node) -> Position:
        return self.position(node.start_mark.line, node.start_mark.column)

    def position_of_index(self, index: int) -> Position:
        line0 = bisect.bisect_right(self._line_starts, index) - 1
        return Position(self.path, line0 + 1, index - self._line_starts[line0] + 1)

    def index_of(self, mark: yaml.Mark) -> int:
        """The character offset of a mark, computed from line/column (both loaders agree)."""
        return self._line_starts[mark.line] + mark.column

    def line_text(self, line0: int) -> str:
        start = self._line_starts[line0]
        end = self.text.find("\n", start)
        return self.text[start:] if end < 0 else self.text[start:end]

    def raw(self, node: yaml.Node) -> str:
        """The text of a node exactly as written in the file."""
        return self.text[self.index_of(node.start_mark) : self.index_of(node.end_mark)]


def _invalid(path: str, line: int, column: int, message: str) -> WorkflowInvalid:
    return WorkflowInvalid([Problem(Position(path, line, column), message)])


def decode(data: str | bytes, path: str) -> Source:
    """Check size and encoding; the result holds text PyYAML can read."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > MAX_SOURCE_BYTES:
        raise _invalid(
            path, 1, 1, f"file is too large ({len(raw)} bytes; a workflow may be at most 1 MiB)"
        )
    nul = raw.find(b"\0")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        column = nul - (raw.rfind(b"\n", 0, nul) + 1) + 1
        raise _invalid(path, line, column, "file contains a NUL byte; is it a binary file?")
    if isinstance(data, str):
        text = data
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = raw.count(b"\n", 0, error.start) + 1
            column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
            raise _invalid(
                path, line, column, "file is not valid UTF-8 text; is it a binary file?"
            ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    # PyYAML refuses non-printable characters with a vague message; name the
    # character and its place ourselves.
    bad = _NON_PRINTABLE.search(text)
    if bad is not None:
        position = Source(path, text).position_of_index(bad.start())
        raise _invalid(
            path,
            position.line,
            position.column,
            f"file contains the control character U+{ord(bad.group()):04X}; is it a binary file?",
        )
    return Source(path, text)


def compose(source: Source) -> yaml.Node:
    """Compose the YAML of one document; raise WorkflowInvalid for syntax errors or no content."""
    try:
        node = yaml.compose(source.text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        raise WorkflowInvalid([_syntax_problem(source, error)]) from None
    except yaml.YAMLError as error:
        raise _invalid(source.path, 1, 1, f"YAML error: {error}") from None
    if node is None or (node.tag == NULL_TAG and not node.value):
        raise _invalid(source.path, 1, 1, "the file is empty; a workflow needs 'on' and 'jobs'")
    problem = _shape_problem(source, node)
    if problem is not None:
        raise WorkflowInvalid([problem])
    return node


MAX_DEPTH = 64
MAX_EXPANDED_NODES = 200_000


def _shape_problem(source: Source, root: yaml.Node) -> Problem | None:
    """Refuse what would make a naive walk loop or explode: self-containing aliases,
    absurd nesting, and alias bombs that expand to millions of nodes."""
    expanded: dict[int, int] = {}  # id(node) -> nodes it stands for, aliases unfolded
    # Iterative depth-first walk: (node, depth, children already pushed?)
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    active: set[int] = set()
    while stack:
        node, depth, done = stack.pop()
        if done:
            active.discard(id(node))
            expanded[id(node)] = 1 + sum(expanded[id(child)] for child in _children(node))
            if expanded[id(node)] > MAX_EXPANDED_NODES:
                return Problem(
                    source.at(node),
                    "aliases here expand to more than "
                    f"{MAX_EXPANDED_NODES} values; is this an alias bomb?",
                )
            continue
        if id(node) in expanded:
            continue
        if depth > MAX_DEPTH:
            return Problem(source.at(node), f"values are nested more than {MAX_DEPTH} deep")
        active.add(id(node))
        stack.append((node, depth, True))
        for child in _children(node):
            if id(child) in active:
                return Problem(source.at(child), "an alias refers to a value that contains it")
            if id(child) not in expanded:
                stack.append((child, depth + 1, False))
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _syntax_problem(source: Source, error: yaml.MarkedYAMLError) -> Problem:
    mark = error.problem_mark or error.context_mark
    if mark is None:
        return Problem(Position(source.path, 1, 1), f"YAML syntax error: {error.problem}")
    tab = _indentation_tab(source, mark.line)
    if tab is None and mark.line > 0:
        # A tab-indented line often makes the scanner fail on the line before it.
        tab = _indentation_tab(source, mark.line - 1)
        if tab is None and mark.line + 1 < len(source._line_starts):
            tab = _indentation_tab(source, mark.line + 1)
    if tab is not None:
        line0, column0 = tab
        return Problem(
            source.position(line0, column0),
            "tab character used for indentation; YAML indentation must use spaces",
        )
    from conveyor.workflow.yaml_hints import explain  # only for a file that has a mistake

    explained = explain(source, error)
    if explained is not None:
        return explained
    problem = error.problem or "syntax error"
    context = f" ({error.context})" if error.context else ""
    return Problem(
        source.position(mark.line, mark.column), f"YAML syntax error: {problem}{context}"
    )


def _indentation_tab(source: Source, line0: int) -> tuple[int, int] | None:
    if line0 >= len(source._line_starts):
        return None
    text = source.line_text(line0)
    indent = text[: len(text) - len(text.lstrip(" \t"))]
    if "\t" in indent:
        return line0, indent.index("\t")
    return None


def is_mapping(node: yaml.Node) -> bool:
    return isinstance(node, yaml.MappingNode)


def is_sequence(node: yaml.Node) -> bool:
    return isinstance(node, yaml.SequenceNode)


def is_scalar(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode)


def is_null(node: yaml.Node) -> bool:
    return is_scalar(node) and node.tag == NULL_TAG


def kind_of(node: yaml.Node) -> str:
    """How a node reads to a user, for 'expected X, got Y' messages."""
    if is_mapping(node):
        return "a mapping"
    if is_sequence(node):
        return "a list"
    if node.tag == NULL_TAG:
        return "nothing (null)"
    if node.tag == BOOL_TAG and node.value.lower() in ("true", "false"):
        return f"the boolean {node.value}"
    if node.tag in (INT_TAG, FLOAT_TAG):
        return f"the number {node.value}"
    return f"the string {node.value!r}"


@dataclass
class Entry:
    """One key of a mapping, with the nodes of key and value."""

    key: str
    key_node: yaml.Node
    value: yaml.Node


def entries(source: Source, node: yaml.MappingNode, problems: list[Problem]) -> Iterator[Entry]:
    """The keys of a mapping in file order, with ``<<`` merges applied.

    Keys written in the mapping win over merged ones, as YAML specifies; a key
    written twice is a problem (GitHub refuses it too).
    """
    explicit: dict[str, yaml.Node] = {}
    merged: list[Entry] = []
    ordered: list[Entry] = []
    for key_node, value_node in node.value:
        if key_node.tag == MERGE_TAG and is_scalar(key_node) and key_node.value == "<<":
            merged.extend(_merge_sources(source, value_node, problems))
            continue
        if not is_scalar(key_node):
            problems.append(
                Problem(
                    source.at(key_node), f"a key must be a plain string, got {kind_of(key_node)}"
                )
            )
            continue
        key = key_node.value
        if key in explicit:
            first = source.at(explicit[key])
            problems.append(
                Problem(
                    source.at(key_node),
                    f"duplicate key '{key}' (first defined at line {first.line}, "
                    f"column {first.column})",
                )
            )
            continue
        explicit[key] = key_node
        ordered.append(Entry(key, key_node, value_node))
    seen = set(explicit)
    for entry in merged:
        if entry.key not in seen:
            seen.add(entry.key)
            ordered.append(entry)
    yield from ordered


def _merge_sources(source: Source, node: yaml.Node, problems: list[Problem]) -> list[Entry]:
    """Entries a ``<<`` value contributes: one mapping, or a list of them (earlier wins)."""
    if is_mapping(node):
        return list(entries(source, node, problems))
    if is_sequence(node):
        result: list[Entry] = []
        seen: set[str] = set()
        for item in node.value:
            if not is_mapping(item):
                problems.append(
                    Problem(source.at(item), f"'<<' merges mappings only, got {kind_of(item)}")
                )
                continue
            for entry in entries(source, item, problems):
                if entry.key not in seen:
                    seen.add(entry.key)
                    result.append(entry)
        return result
    problems.append(Problem(source.at(node), f"'<<' merges mappings only, got {kind_of(node)}"))
    return []
