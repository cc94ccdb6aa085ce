"""The syntax tree `parse` builds. Nodes are immutable so parsed trees can be cached and shared."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Node:
    """Base of every node; `offset` is where the node's first token starts in the text."""

    offset: int

    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: Any


@dataclass(frozen=True, slots=True)
class ContextRef(Node):
    """A named value such as `github` or `matrix`; `name` keeps the spelling used."""

    name: str


@dataclass(frozen=True, slots=True)
class Property(Node):
    """`target.name`"""

    target: Node
    name: str

    def children(self) -> tuple[Node, ...]:
        return (self.target,)


@dataclass(frozen=True, slots=True)
class Index(Node):
    """`target[index]`"""

    target: Node
    index: Node

    def children(self) -> tuple[Node, ...]:
        return (self.target, self.index)


@dataclass(frozen=True, slots=True)
class Filter(Node):
    """`target.*` or `target[*]`"""

    target: Node

    def children(self) -> tuple[Node, ...]:
        return (self.target,)


@dataclass(frozen=True, slots=True)
class Not(Node):
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True, slots=True)
class Comparison(Node):
    """`left <op> right` for one of == != < <= > >=."""

    operator: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, slots=True)
class And(Node):
    """`a && b && ...`, kept flat so long chains do not nest."""

    operands: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.operands


@dataclass(frozen=True, slots=True)
class Or(Node):
    """`a || b || ...`, kept flat so long chains do not nest."""

    operands: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.operands


@dataclass(frozen=True, slots=True)
class Call(Node):
    """A function call; `name` is the canonical spelling (e.g. 'startsWith')."""

    name: str
    arguments: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.arguments


def walk(node: Node) -> Iterator[Node]:
    """Every node of a tree, parents before children, left to right, without recursion."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children()))
