"""Values of the expression language and GitHub's rules for converting and comparing them.

Values are plain JSON-like Python data: None, bool, int/float, str, list/tuple (arrays) and
mappings (objects). The rules follow GitHub's documented coercion table: when two operands of
different kinds meet, null and booleans become numbers, strings become numbers next to a
number, and arrays/objects only ever equal themselves.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Mapping
from typing import Any


class Kind(enum.Enum):
    NULL = "null"
    BOOLEAN = "boolean"
    NUMBER = "number"
    STRING = "string"
    ARRAY = "array"
    OBJECT = "object"


PRIMITIVE_KINDS = frozenset({Kind.NULL, Kind.BOOLEAN, Kind.NUMBER, Kind.STRING})


class FilteredArray(list):
    """The array an object filter (`a.*`, `a[*]`) produces.

    Further property access maps over its items instead of indexing the array itself,
    which is how `labels.*.name` collects every label's name.
    """


def kind_of(value: Any) -> Kind:
    if value is None:
        return Kind.NULL
    if isinstance(value, bool):
        return Kind.BOOLEAN
    if isinstance(value, (int, float)):
        return Kind.NUMBER
    if isinstance(value, str):
        return Kind.STRING
    if isinstance(value, Mapping):
        return Kind.OBJECT
    if isinstance(value, (list, tuple)):
        return Kind.ARRAY
    # Anything else a caller put in a context (a Path, a Decimal) behaves as its text.
    return Kind.STRING


def is_primitive(value: Any) -> bool:
    return kind_of(value) in PRIMITIVE_KINDS


def is_truthy(value: Any) -> bool:
    kind = kind_of(value)
    if kind is Kind.NULL:
        return False
    if kind is Kind.BOOLEAN:
        return bool(value)
    if kind is Kind.NUMBER:
        return not (value == 0 or math.isnan(value))
    if kind is Kind.STRING:
        return _text(value) != ""
    return True


# Numbers as strings: what .NET's invariant Double.TryParse accepts with a sign, a decimal
# point and an exponent allowed (GitHub parses with exactly those options).
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_OCTAL_DIGITS = frozenset("01234567")


def parse_number(text: str) -> float:
    """GitHub's string-to-number rule: '' is 0, JSON-like numbers parse, the rest is NaN."""
    text = text.strip()
    if not text:
        return 0.0
    if _DECIMAL.fullmatch(text):
        return float(text)
    if len(text) > 2 and text[0] == "0" and text[1] == "x" and _HEX_DIGITS.issuperset(text[2:]):
        return _as_int32(int(text[2:], 16))
    if len(text) > 2 and text[0] == "0" and text[1] == "o" and _OCTAL_DIGITS.issuperset(text[2:]):
        return _as_int32(int(text[2:], 8))
    if text == "Infinity":
        return math.inf
    if text == "-Infinity":
        return -math.inf
    return math.nan


def _as_int32(unsigned: int) -> float:
    # GitHub reads hex and octal into a signed 32-bit integer: 0xffffffff is -1 and anything
    # wider does not parse at all.
    if unsigned > 0xFFFFFFFF:
        return math.nan
    if unsigned >= 0x80000000:
        unsigned -= 0x100000000
    return float(unsigned)


def to_number(value: Any) -> float:
    kind = kind_of(value)
    if kind is Kind.NULL:
        return 0.0
    if kind is Kind.BOOLEAN:
        return 1.0 if value else 0.0
    if kind is Kind.NUMBER:
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if kind is Kind.STRING:
        return parse_number(_text(value))
    return math.nan


def format_number(value: int | float) -> str:
    """A number as GitHub prints it: up to 15 significant digits, no '.0' on whole numbers.

    Python ints are exact, so they print whole; floats use the same rule as .NET's "G15"
    (scientific notation from 1E+15 up and below 1E-05).
    """
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"  # also for -0, which GitHub prints as 0
    return f"{value:.15g}".replace("e", "E")


def to_string(value: Any) -> str:
    """GitHub's conversion of a value to text, as `${{ }}` interpolation uses it.

    null is '', booleans are 'true'/'false', numbers print like GitHub prints them, and
    arrays and objects become the same pretty JSON that toJSON() gives.
    """
    kind = kind_of(value)
    if kind is Kind.NULL:
        return ""
    if kind is Kind.BOOLEAN:
        return "true" if value else "false"
    if kind is Kind.NUMBER:
        return format_number(value)
    if kind is Kind.STRING:
        return _text(value)
    return to_json(value)


def to_function_string(value: Any) -> str:
    """The text a function gives a value: as to_string, but arrays and objects become the
    words 'Array' and 'Object', which is what GitHub's format(), join() and fromJSON() see."""
    kind = kind_of(value)
    if kind is Kind.ARRAY:
        return "Array"
    if kind is Kind.OBJECT:
        return "Object"
    return to_string(value)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def fold_case(text: str) -> str:
    """Upper-case each character on its own, as an ordinal case-insensitive compare does."""
    if text.isascii():
        return text.upper()
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in text)


def _coerce(left: Any, right: Any) -> tuple[Any, Kind, Any, Kind]:
    """Bring two operands to a common kind where GitHub's rules allow it."""
    while True:
        left_kind, right_kind = kind_of(left), kind_of(right)
        if left_kind is right_kind:
            return left, left_kind, right, right_kind
        if left_kind is Kind.NUMBER and right_kind is Kind.STRING:
            return left, left_kind, to_number(right), Kind.NUMBER
        if left_kind is Kind.STRING and right_kind is Kind.NUMBER:
            return to_number(left), Kind.NUMBER, right, right_kind
        if left_kind in (Kind.BOOLEAN, Kind.NULL):
            left = to_number(left)
        elif right_kind in (Kind.BOOLEAN, Kind.NULL):
            right = to_number(right)
        else:
            return left, left_kind, right, right_kind


def loose_equal(left: Any, right: Any) -> bool:
    left, left_kind, right, right_kind = _coerce(left, right)
    if left_kind is not right_kind:
        return False
    if left_kind is Kind.NULL:
        return True
    if left_kind is Kind.NUMBER:
        # NaN equals nothing, itself included; float comparison already says so.
        return float(left) == float(right)
    if left_kind is Kind.STRING:
        return fold_case(_text(left)) == fold_case(_text(right))
    if left_kind is Kind.BOOLEAN:
        return left == right
    return left is right


def loose_less(left: Any, right: Any) -> bool:
    left, left_kind, right, right_kind = _coerce(left, right)
    if left_kind is not right_kind:
        return False
    if left_kind is Kind.NUMBER:
        return float(left) < float(right)
    if left_kind is Kind.STRING:
        return fold_case(_text(left)) < fold_case(_text(right))
    if left_kind is Kind.BOOLEAN:
        return not left and right
    return False


def loose_greater(left: Any, right: Any) -> bool:
    return loose_less(right, left)


def to_json(value: Any) -> str:
    """Pretty JSON with a two-space indent, numbers printed the GitHub way."""
    parts: list[str] = []
    _write_json(value, 0, parts)
    return "".join(parts)


def _write_json(value: Any, depth: int, out: list[str]) -> None:
    kind = kind_of(value)
    if kind is Kind.OBJECT:
        if not value:
            out.append("{}")
            return
        inner = "\n" + "  " * (depth + 1)
        out.append("{")
        for position, (key, item) in enumerate(value.items()):
            out.append(("," if position else "") + inner)
            out.append(json_string(to_string(key)))
            out.append(": ")
            _write_json(item, depth + 1, out)
        out.append("\n" + "  " * depth + "}")
    elif kind is Kind.ARRAY:
        if not value:
            out.append("[]")
            return
        inner = "\n" + "  " * (depth + 1)
        out.append("[")
        for position, item in enumerate(value):
            out.append(("," if position else "") + inner)
            _write_json(item, depth + 1, out)
        out.append("\n" + "  " * depth + "]")
    elif kind is Kind.NULL:
        out.append("null")
    elif kind is Kind.BOOLEAN:
        out.append("true" if value else "false")
    elif kind is Kind.NUMBER:
        out.append(format_number(value))
    else:
        out.append(json_string(_text(value)))


def json_string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    # Newtonsoft (GitHub's serializer) also escapes these line-breaking characters.
    return (
        encoded.replace("\u0085", "\\u0085")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
