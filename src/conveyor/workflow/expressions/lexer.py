"""Splits expression text into tokens, following GitHub's lexical rules."""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from typing import Any

from .errors import ExpressionError
from .values import parse_number


class TokenKind(enum.Enum):
    NUMBER = "number"
    STRING = "string"
    IDENTIFIER = "identifier"  # context, function, property or keyword (true/false/null/...)
    PUNCTUATION = "punctuation"  # ( ) [ ] , . *
    OPERATOR = "operator"  # ! != == < <= > >= && ||
    END = "end"


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str  # the raw text as written
    offset: int
    value: Any = None  # the parsed value of a number or string


_BOUNDARY = frozenset("()[],.!<>=&|")
_TWO_CHAR_OPERATORS = frozenset({"!=", ">=", "<=", "==", "&&", "||"})
_ONE_CHAR_OPERATORS = frozenset("!<>")
_OPERATOR_HINTS = {
    "=": " (did you mean '=='?)",
    "&": " (did you mean '&&'?)",
    "|": " (did you mean '||'?)",
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_WHOLE_NUMBER = re.compile(r"[+-]?\d+|0[xo][0-9A-Fa-f]+")
# After one of these a '.' starts a number such as `.5`; after anything else it dereferences.
_OPERAND_EXPECTED_AFTER = frozenset({"(", "[", ","})


def _is_boundary(char: str) -> bool:
    return char in _BOUNDARY or char.isspace()


def tokenize(text: str) -> list[Token]:
    """All tokens of `text`, ending with an END token; raises ExpressionError on bad input."""
    tokens: list[Token] = []
    position = 0
    length = len(text)
    while True:
        while position < length and text[position].isspace():
            position += 1
        if position >= length:
            tokens.append(Token(TokenKind.END, "", length))
            return tokens
        char = text[position]
        previous = tokens[-1] if tokens else None
        if char in "()[],*":
            tokens.append(Token(TokenKind.PUNCTUATION, char, position))
            position += 1
        elif char == "'":
            token = _read_string(text, position)
            tokens.append(token)
            position += len(token.text)
        elif char in "!<>=&|":
            token = _read_operator(text, position)
            tokens.append(token)
            position += len(token.text)
        elif char == "." and not _operand_expected(previous):
            tokens.append(Token(TokenKind.PUNCTUATION, ".", position))
            position += 1
        elif char in ".+-" or char.isdigit():
            token = _read_number(text, position)
            tokens.append(token)
            position += len(token.text)
        else:
            end = position + 1
            while end < length and not _is_boundary(text[end]):
                end += 1
            word = text[position:end]
            if not _IDENTIFIER.fullmatch(word):
                raise _unexpected(word, position)
            tokens.append(Token(TokenKind.IDENTIFIER, word, position))
            position = end


def _operand_expected(previous: Token | None) -> bool:
    if previous is None or previous.kind is TokenKind.OPERATOR:
        return True
    return previous.kind is TokenKind.PUNCTUATION and previous.text in _OPERAND_EXPECTED_AFTER


def _unexpected(raw: str, offset: int) -> ExpressionError:
    if raw.startswith('"'):
        return ExpressionError(
            "Unexpected symbol '\"': strings are written in single quotes, e.g. 'text'", offset
        )
    return ExpressionError(f"Unexpected symbol '{raw}'", offset)


def _read_string(text: str, start: int) -> Token:
    pieces: list[str] = []
    position = start + 1
    while position < len(text):
        quote = text.find("'", position)
        if quote < 0:
            break
        pieces.append(text[position:quote])
        if quote + 1 < len(text) and text[quote + 1] == "'":
            pieces.append("'")  # '' is an escaped quote
            position = quote + 2
            continue
        return Token(TokenKind.STRING, text[start : quote + 1], start, "".join(pieces))
    raise ExpressionError("Unterminated string: a closing ' is missing", start)


def _read_operator(text: str, start: int) -> Token:
    pair = text[start : start + 2]
    if pair in _TWO_CHAR_OPERATORS:
        return Token(TokenKind.OPERATOR, pair, start)
    if text[start] in _ONE_CHAR_OPERATORS:
        return Token(TokenKind.OPERATOR, text[start], start)
    end = start + 1
    while end < len(text) and not _is_boundary(text[end]):
        end += 1
    raw = text[start:end]
    hint = _OPERATOR_HINTS.get(text[start], "")
    raise ExpressionError(f"Unexpected symbol '{raw}'{hint}", start)


def _read_number(text: str, start: int) -> Token:
    end = start + 1
    while end < len(text) and (text[end] == "." or not _is_boundary(text[end])):
        end += 1
    raw = text[start:end]
    number = parse_number(raw)
    if math.isnan(number):
        raise ExpressionError(f"Invalid number '{raw}'", start)
    value: int | float = number
    if math.isfinite(number) and _WHOLE_NUMBER.fullmatch(raw):
        value = int(number)
    return Token(TokenKind.NUMBER, raw, start, value)
