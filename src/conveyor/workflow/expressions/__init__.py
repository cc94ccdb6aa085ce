"""GitHub Actions' `${{ }}` expression language.

    evaluate("github.ref == 'refs/heads/main'", {"github": {"ref": "refs/heads/main"}})

`parse` checks syntax, function names and argument counts (cached); `evaluate` and
`evaluate_node` compute a value; `interpolate`, `evaluate_value` and `evaluate_condition`
work on workflow strings that embed `${{ }}`. Every problem is an ExpressionError with a
0-based offset into the text that was given.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

# Loaded on first use (PEP 562): `conveyor run` on a workflow without `${{ }}` or `if:`
# never needs the parser and evaluator, and start-up time is measured.
_HOMES = {
    "ExpressionError": "errors",
    "evaluate_node": "evaluator",
    "referenced_contexts": "evaluator",
    "uses_status_function": "evaluator",
    "Node": "nodes",
    "parse": "parser",
    "JobStatus": "status",
    "evaluate_mapping": "structure",
    "evaluate_structure": "structure",
    "is_insert": "structure",
    "evaluate_condition": "templates",
    "evaluate_value": "templates",
    "find_expressions": "templates",
    "interpolate": "templates",
    "to_string": "values",
}

if TYPE_CHECKING:
    from .errors import ExpressionError
    from .evaluator import evaluate_node, referenced_contexts, uses_status_function
    from .nodes import Node
    from .parser import parse
    from .status import JobStatus
    from .structure import evaluate_mapping, evaluate_structure, is_insert
    from .templates import evaluate_condition, evaluate_value, find_expressions, interpolate
    from .values import to_string


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def evaluate(text: str, contexts: Mapping[str, Any], status: JobStatus | None = None) -> Any:
    """The value of expression `text` (written without `${{ }}`) over `contexts`.

    `contexts` maps a context name (github, env, matrix, ...) to JSON-like data. A name the
    expression uses that is not there raises ExpressionError ("Unrecognized named-value").
    """
    from .errors import ExpressionError
    from .evaluator import evaluate_node
    from .parser import parse

    node = parse(text)
    try:
        return evaluate_node(node, contexts, status)
    except ExpressionError as error:
        raise ExpressionError(error.message, error.offset, text) from None


__all__ = [
    "ExpressionError",
    "JobStatus",
    "Node",
    "evaluate",
    "evaluate_condition",
    "evaluate_mapping",
    "evaluate_node",
    "evaluate_structure",
    "evaluate_value",
    "find_expressions",
    "interpolate",
    "is_insert",
    "parse",
    "referenced_contexts",
    "to_string",
    "uses_status_function",
]
