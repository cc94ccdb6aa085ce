"""Evaluating a YAML structure (mapping, sequence, scalars) the way GitHub's template engine does.

Beyond a string's own ``${{ }}``, the structure itself can be templated:

- a mapping key may be an expression; its value as text is the key;
- the key ``${{ insert }}`` merges, in its place, the mapping its value evaluates to;
- a sequence item that is exactly one expression yielding an array is spliced in, so
  ``[a, "${{ fromJSON('[\\"b\\"]') }}"]`` is ``[a, b]``.

A key produced twice is an error, as on GitHub, rather than one silently winning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ExpressionError
from .status import JobStatus
from .templates import _sole_expression, evaluate_value, interpolate
from .values import kind_of

INSERT = "insert"


def is_insert(key: object) -> bool:
    """Whether a mapping key is the ``${{ insert }}`` directive."""
    if not isinstance(key, str) or "${{" not in key:
        return False
    sole = _sole_expression(key.strip())
    return sole is not None and sole[1].strip() == INSERT


def evaluate_structure(
    template: Any, contexts: Mapping[str, Any], status: JobStatus | None = None
) -> Any:
    """``template`` with every expression evaluated, keys and splices included."""
    if isinstance(template, dict):
        return evaluate_mapping(template, contexts, status)
    if isinstance(template, list):
        items: list[Any] = []
        for item in template:
            if isinstance(item, str) and _sole_expression(item) is not None:
                result = evaluate_value(item, contexts, status)
                if isinstance(result, list | tuple):
                    items.extend(result)
                else:
                    items.append(result)
            else:
                items.append(evaluate_structure(item, contexts, status))
        return items
    if isinstance(template, str) and "${{" in template:
        return evaluate_value(template, contexts, status)
    return template


def evaluate_mapping(
    template: Mapping[Any, Any], contexts: Mapping[str, Any], status: JobStatus | None = None
) -> dict[Any, Any]:
    """A mapping with expression keys evaluated and ``${{ insert }}`` merged in place."""
    result: dict[Any, Any] = {}
    for key, value in template.items():
        if is_insert(key):
            inserted = evaluate_structure(value, contexts, status)
            if inserted is None:
                continue  # inserting nothing is allowed, as for an empty mapping
            if kind_of(inserted).value != "object":
                raise ExpressionError(
                    f"'insert' needs a mapping to merge, got {_article(kind_of(inserted).value)}",
                    0,
                )
            for name, item in inserted.items():
                _add(result, str(name), item)
            continue
        if isinstance(key, str) and "${{" in key:
            key = interpolate(key, contexts, status)
        _add(result, key, evaluate_structure(value, contexts, status))
    return result


def _add(result: dict[Any, Any], key: Any, value: Any) -> None:
    if key in result:
        raise ExpressionError(f"'{key}' is already defined", 0)
    result[key] = value


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
