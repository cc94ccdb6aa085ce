"""``strategy.matrix`` expansion, following GitHub's documented rules.

1. The vectors (every key but ``include`` and ``exclude``) are multiplied out in key order,
   the last vector varying fastest.
2. ``exclude`` entries remove each combination they match; an entry only needs to match
   partially, and a nested object matches when its keys are a subset of the value's.
3. Each ``include`` entry is merged into every original combination it would not overwrite
   (values that came from the vectors are never overwritten; values added by an earlier
   ``include`` may be). An entry that fits no original combination becomes a combination of
   its own, and later entries are never merged into it.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections.abc import Iterator
from typing import Any

MAX_COMBINATIONS = 256
# Past this many raw combinations no realistic exclude list brings the count back to 256, and
# walking them all would stall the parser, which expands every matrix to check it.
MAX_PRODUCT = 1_000_000
_RESERVED_KEYS = ("include", "exclude")


class MatrixError(ValueError):
    """A matrix GitHub would refuse to expand."""


def expand_matrix(matrix: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Return the job combinations of ``matrix`` in GitHub's order; ``None`` gives ``[{}]``."""
    if matrix is None:
        return [{}]
    if not isinstance(matrix, dict):
        raise MatrixError(_not_a_mapping("matrix", matrix))
    vectors = _vectors(matrix)
    exclude = _entries(matrix, "exclude")
    include = _entries(matrix, "include")
    if not vectors and not include:
        raise MatrixError("matrix must define at least one vector")

    originals = _apply_exclude(vectors, exclude) if vectors else []
    added: list[dict[str, Any]] = []
    for entry in include:
        merged = False
        for combination in originals:
            if _fits(entry, combination, vectors):
                combination.update(copy.deepcopy(entry))
                merged = True
        if not merged:
            added.append(copy.deepcopy(entry))

    combinations = originals + added
    if not combinations:
        raise MatrixError("matrix exclude removes every combination, so no job would run")
    if len(combinations) > MAX_COMBINATIONS:
        raise MatrixError(_too_many(str(len(combinations))))
    return combinations


def matrix_job_name(job_id_or_name: str, values: dict[str, Any]) -> str:
    """The name GitHub shows for one matrix job, e.g. ``test (3.11, ubuntu-latest)``."""
    if not values:
        return job_id_or_name
    shown = ", ".join(_display(value) for value in values.values())
    return f"{job_id_or_name} ({shown})"


def _vectors(matrix: dict[str, Any]) -> dict[str, list[Any]]:
    vectors: dict[str, list[Any]] = {}
    for key, values in matrix.items():
        if key in _RESERVED_KEYS:
            continue
        if not isinstance(key, str):
            raise MatrixError(f"matrix vector names must be strings, got {key!r}")
        if isinstance(values, str) and "${{" in values:
            raise MatrixError(
                f"matrix vector {key!r} is still the expression {values!r}; "
                "evaluate it before expanding the matrix"
            )
        if not isinstance(values, list):
            raise MatrixError(
                f"matrix vector {key!r} must be a list of values, got {_kind(values)}"
            )
        if not values:
            raise MatrixError(f"matrix vector {key!r} does not contain any values")
        vectors[key] = values
    return vectors


def _entries(matrix: dict[str, Any], key: str) -> list[dict[str, Any]]:
    entries = matrix.get(key)
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise MatrixError(f"matrix {key} must be a list of mappings, got {_kind(entries)}")
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise MatrixError(_not_a_mapping(f"matrix {key} entry {number}", entry))
    return entries


def _apply_exclude(
    vectors: dict[str, list[Any]], exclude: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    size = math.prod(len(values) for values in vectors.values())
    if size > MAX_PRODUCT:
        raise MatrixError(
            f"matrix vectors multiply out to {size} combinations; "
            f"a matrix can produce at most {MAX_COMBINATIONS} jobs"
        )
    kept: list[dict[str, Any]] = []
    for combination in _product(vectors):
        if any(_contains(combination, entry) for entry in exclude):
            continue
        kept.append(combination)
        # Include entries only ever add jobs, so this many is already too many.
        if len(kept) > MAX_COMBINATIONS:
            raise MatrixError(_too_many(f"more than {MAX_COMBINATIONS}"))
    return kept


def _product(vectors: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
    names = list(vectors)
    for values in itertools.product(*vectors.values()):
        yield {name: copy.deepcopy(value) for name, value in zip(names, values, strict=True)}


def _fits(entry: dict[str, Any], combination: dict[str, Any], vectors: dict[str, Any]) -> bool:
    """Whether merging ``entry`` leaves every value that came from a vector unchanged."""
    return all(_same(combination[key], value) for key, value in entry.items() if key in vectors)


def _contains(container: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Partial match: every key of ``wanted`` is in ``container`` with a matching value."""
    return all(
        key in container and _matches(container[key], value) for key, value in wanted.items()
    )


def _matches(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, dict) and isinstance(wanted, dict):
        return _contains(actual, wanted)
    return _same(actual, wanted)


def _same(left: Any, right: Any) -> bool:
    # Python says True == 1; YAML's true and 1 are different values.
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    if _both_numbers(left, right):
        return bool(left == right)
    return type(left) is type(right) and bool(left == right)


def _both_numbers(left: Any, right: Any) -> bool:
    return isinstance(left, int | float) and isinstance(right, int | float)


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    return str(value)


def _too_many(count: str) -> str:
    return f"matrix produces {count} jobs; a matrix can produce at most {MAX_COMBINATIONS}"


def _not_a_mapping(what: str, value: Any) -> str:
    return f"{what} must be a mapping of names to values, got {_kind(value)}"


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def select_legs(combinations: list[dict[str, Any]], wanted: dict[str, list[str]]) -> list[int]:
    """The indexes of the legs ``--matrix KEY=VALUE`` keeps, as act selects them.

    A key this matrix has (in any leg) must be matched by a leg: its value, shown as in
    the leg's name (``3.1``, ``true``), is one of the texts given for the key, or both are
    numbers and equal (``3.10`` given finds the leg YAML read as 3.1). Keys the matrix does
    not have are ignored, so a job without them runs all its legs.
    """
    keys = [key for key in wanted if any(key in values for values in combinations)]
    return [
        index
        for index, values in enumerate(combinations)
        if all(key in values and _value_matches(values[key], wanted[key]) for key in keys)
    ]


def leg_keys(combinations: list[dict[str, Any]]) -> list[str]:
    """Every key the legs of a matrix have, in first-seen order."""
    return list(dict.fromkeys(key for values in combinations for key in values))


def _value_matches(value: Any, accepted: list[str]) -> bool:
    shown = _display(value)
    if shown in accepted:
        return True
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    for text in accepted:
        try:
            if float(text) == value:
                return True
        except ValueError:
            continue
    return False
