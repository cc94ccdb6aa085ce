"""Evaluates a syntax tree against contexts, with GitHub's semantics."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import ExpressionError
from .functions import FUNCTIONS, Invocation
from .nodes import (
    And,
    Call,
    Comparison,
    ContextRef,
    Filter,
    Index,
    Literal,
    Node,
    Not,
    Or,
    Property,
    walk,
)
from .status import STATUS_FUNCTIONS, JobStatus
from .values import (
    FilteredArray,
    Kind,
    fold_case,
    is_primitive,
    is_truthy,
    kind_of,
    loose_equal,
    loose_greater,
    loose_less,
    to_number,
    to_string,
)

_INT32_MAX = 2**31 - 1


def evaluate_node(node: Node, contexts: Mapping[str, Any], status: JobStatus | None = None) -> Any:
    """The value of a parsed expression.

    Every context the expression names must be in `contexts` (GitHub rejects unknown names
    even on a branch that would not run). A filter result comes back as a plain list.
    """
    _check_context_names(node, contexts)
    result = _Evaluation(contexts, status or JobStatus()).value(node)
    return list(result) if isinstance(result, FilteredArray) else result


def referenced_contexts(node: Node) -> set[str]:
    """Lower-cased names of the contexts an expression reads."""
    return {each.name.lower() for each in walk(node) if isinstance(each, ContextRef)}


def uses_status_function(node: Node) -> bool:
    """Whether the expression calls success(), failure(), cancelled() or always()."""
    return any(isinstance(each, Call) and each.name in STATUS_FUNCTIONS for each in walk(node))


def _check_context_names(node: Node, contexts: Mapping[str, Any]) -> None:
    known: set[str] | None = None
    for each in walk(node):
        if isinstance(each, ContextRef) and each.name not in contexts:
            if known is None:
                known = {name.lower() for name in contexts}
            if each.name.lower() not in known:
                raise ExpressionError(f"Unrecognized named-value: '{each.name}'", each.offset)


def _find_context(contexts: Mapping[str, Any], name: str) -> Any:
    if name in contexts:
        return contexts[name]
    folded = name.lower()
    for key, value in contexts.items():
        if key.lower() == folded:
            return value
    return None


class _Evaluation:
    def __init__(self, contexts: Mapping[str, Any], status: JobStatus) -> None:
        self.contexts = contexts
        self.status = status

    def value(self, node: Node) -> Any:
        # Ordered by how often each node type occurs in real workflows.
        if isinstance(node, Property):
            return _member(self.value(node.target), node.name)
        if isinstance(node, ContextRef):
            return _find_context(self.contexts, node.name)
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Comparison):
            return _compare(node.operator, self.value(node.left), self.value(node.right))
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, And):
            result: Any = None
            for operand in node.operands:
                result = self.value(operand)
                if not is_truthy(result):
                    return result
            return result
        if isinstance(node, Or):
            result = None
            for operand in node.operands:
                result = self.value(operand)
                if is_truthy(result):
                    return result
            return result
        if isinstance(node, Not):
            return not is_truthy(self.value(node.operand))
        if isinstance(node, Index):
            target = self.value(node.target)
            return _member(target, self.value(node.index))
        if isinstance(node, Filter):
            return _filter(self.value(node.target))
        raise TypeError(f"unknown node {type(node).__name__}")  # pragma: no cover

    def call(self, node: Call) -> Any:
        spec = FUNCTIONS[node.name.lower()]
        arguments = tuple(self._thunk(argument) for argument in node.arguments)
        invocation = Invocation(node.name, arguments, self.contexts, self.status, node.offset)
        return spec.implementation(invocation)

    def _thunk(self, node: Node) -> Any:
        return lambda: self.value(node)


def _compare(operator: str, left: Any, right: Any) -> bool:
    if operator == "==":
        return loose_equal(left, right)
    if operator == "!=":
        return not loose_equal(left, right)
    if operator == "<":
        return loose_less(left, right)
    if operator == ">":
        return loose_greater(left, right)
    if operator == "<=":
        return loose_equal(left, right) or loose_less(left, right)
    return loose_equal(left, right) or loose_greater(left, right)


_MISSING = object()


def _member(target: Any, key: Any) -> Any:
    """`target.key` / `target[key]`: missing members, and members of non-collections, are null."""
    if isinstance(target, FilteredArray):
        found = FilteredArray()
        for item in target:
            value = _lookup(item, key)
            if value is not _MISSING:
                found.append(value)
        return found
    value = _lookup(target, key)
    return None if value is _MISSING else value


def _lookup(container: Any, key: Any) -> Any:
    kind = kind_of(container)
    if kind is Kind.OBJECT:
        if not is_primitive(key):
            return _MISSING
        name = to_string(key)
        if name in container:
            return container[name]
        folded = fold_case(name)
        for candidate, value in container.items():
            if isinstance(candidate, str) and fold_case(candidate) == folded:
                return value
        return _MISSING
    if kind is Kind.ARRAY:
        position = to_number(key)
        if math.isnan(position) or position < 0 or position > _INT32_MAX:
            return _MISSING
        whole = math.floor(position)
        return container[whole] if whole < len(container) else _MISSING
    return _MISSING


def _filter(target: Any) -> FilteredArray:
    """`target.*`: the values of an object or the items of an array, ready to map over."""
    if isinstance(target, FilteredArray):
        flattened = FilteredArray()
        for item in target:
            kind = kind_of(item)
            if kind is Kind.OBJECT:
                flattened.extend(item.values())
            elif kind is Kind.ARRAY:
                flattened.extend(item)
        return flattened
    kind = kind_of(target)
    if kind is Kind.OBJECT:
        return FilteredArray(target.values())
    if kind is Kind.ARRAY:
        return FilteredArray(target)
    return FilteredArray()
