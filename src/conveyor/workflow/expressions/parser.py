"""Turns expression text (without `${{ }}`) into a syntax tree, checking it as GitHub does.

Precedence, loosest first: `||`, `&&`, `== !=`, `< <= > >=`, `!`, then `.` `[]` and calls.
Every error carries the offset of the token at fault, so a validator can point at the
exact column in the workflow file.
"""

from __future__ import annotations

import functools

from .errors import ExpressionError
from .functions import FUNCTIONS, FormatProblem, format_segments
from .lexer import Token, TokenKind, tokenize
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
)

MAX_DEPTH = 50  # GitHub's limits, kept so a workflow valid here is valid there
MAX_LENGTH = 21000

_KEYWORDS = {
    "true": True,
    "false": False,
    "null": None,
    "NaN": float("nan"),
    "Infinity": float("inf"),
}
_EQUALITY = frozenset({"==", "!="})
_RELATIONAL = frozenset({"<", "<=", ">", ">="})


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Node:
    """The syntax tree of `text`; raises ExpressionError with the offset of the fault."""
    try:
        if len(text) > MAX_LENGTH:
            raise ExpressionError(
                f"Expression is longer than the limit of {MAX_LENGTH} characters", MAX_LENGTH
            )
        node = _Parser(text, tokenize(text)).parse()
        _check_depth(node)
        return node
    except ExpressionError as error:
        raise ExpressionError(error.message, error.offset, text) from None


class _Parser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.position = 0
        self.nesting = 0

    # -- token helpers -------------------------------------------------------------------

    @property
    def peek(self) -> Token:
        return self.tokens[self.position]

    def advance(self) -> Token:
        token = self.tokens[self.position]
        if token.kind is not TokenKind.END:
            self.position += 1
        return token

    def at(self, kind: TokenKind, *texts: str) -> bool:
        token = self.peek
        return token.kind is kind and (not texts or token.text in texts)

    def unexpected(self, token: Token) -> ExpressionError:
        if token.kind is TokenKind.END:
            return ExpressionError("Unexpected end of expression", token.offset)
        return ExpressionError(f"Unexpected symbol '{token.text}'", token.offset)

    def nested(self, token: Token) -> None:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise ExpressionError(
                f"Expression nests deeper than the limit of {MAX_DEPTH} levels", token.offset
            )

    # -- grammar -------------------------------------------------------------------------

    def parse(self) -> Node:
        if self.at(TokenKind.END):
            raise ExpressionError("Expected an expression but found nothing", 0)
        node = self.parse_or()
        if not self.at(TokenKind.END):
            raise self.unexpected(self.peek)
        return node

    def parse_or(self) -> Node:
        operands = [self.parse_and()]
        while self.at(TokenKind.OPERATOR, "||"):
            self.advance()
            operands.append(self.parse_and())
        return operands[0] if len(operands) == 1 else Or(operands[0].offset, tuple(operands))

    def parse_and(self) -> Node:
        operands = [self.parse_equality()]
        while self.at(TokenKind.OPERATOR, "&&"):
            self.advance()
            operands.append(self.parse_equality())
        return operands[0] if len(operands) == 1 else And(operands[0].offset, tuple(operands))

    def parse_equality(self) -> Node:
        node = self.parse_relational()
        while self.peek.kind is TokenKind.OPERATOR and self.peek.text in _EQUALITY:
            operator = self.advance().text
            node = Comparison(node.offset, operator, node, self.parse_relational())
        return node

    def parse_relational(self) -> Node:
        node = self.parse_unary()
        while self.peek.kind is TokenKind.OPERATOR and self.peek.text in _RELATIONAL:
            operator = self.advance().text
            node = Comparison(node.offset, operator, node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        if self.at(TokenKind.OPERATOR, "!"):
            token = self.advance()
            self.nested(token)
            operand = self.parse_unary()
            self.nesting -= 1
            return Not(token.offset, operand)
        return self.parse_postfix()

    def parse_postfix(self) -> Node:
        node, accessible = self.parse_primary()
        while self.at(TokenKind.PUNCTUATION, ".", "["):
            token = self.advance()
            if not accessible:
                # GitHub allows `.` and `[` only after a name, a call, a group or an index.
                raise self.unexpected(token)
            is_property = token.text == "."
            node = self.parse_property(node) if is_property else self.parse_index(node, token)
        return node

    def parse_property(self, target: Node) -> Node:
        token = self.advance()
        if token.kind is TokenKind.IDENTIFIER:
            return Property(target.offset, target, token.text)
        if token.kind is TokenKind.PUNCTUATION and token.text == "*":
            return Filter(target.offset, target)
        if token.kind is TokenKind.END:
            raise ExpressionError("Expected a property name after '.'", token.offset)
        raise ExpressionError(
            f"Unexpected symbol '{token.text}': a property name or '*' must follow '.'",
            token.offset,
        )

    def parse_index(self, target: Node, opening: Token) -> Node:
        if self.at(TokenKind.PUNCTUATION, "*"):
            self.advance()
            self.expect_closing("]", opening)
            return Filter(target.offset, target)
        self.nested(opening)
        index = self.parse_or()
        self.nesting -= 1
        self.expect_closing("]", opening)
        return Index(target.offset, target, index)

    def expect_closing(self, closing: str, opening: Token) -> None:
        if self.at(TokenKind.PUNCTUATION, closing):
            self.advance()
            return
        if self.at(TokenKind.END):
            raise ExpressionError(
                f"Missing '{closing}' to close the '{opening.text}' at position "
                f"{opening.offset + 1}",
                opening.offset,
            )
        raise self.unexpected(self.peek)

    def parse_primary(self) -> tuple[Node, bool]:
        """The next operand, and whether `.`/`[` may follow it."""
        token = self.peek
        if token.kind in (TokenKind.NUMBER, TokenKind.STRING):
            self.advance()
            return Literal(token.offset, token.value), False
        if token.kind is TokenKind.IDENTIFIER:
            self.advance()
            if token.text in _KEYWORDS:
                return Literal(token.offset, _KEYWORDS[token.text]), False
            if self.at(TokenKind.PUNCTUATION, "("):
                return self.parse_call(token), True
            return ContextRef(token.offset, token.text), True
        if token.kind is TokenKind.PUNCTUATION and token.text == "(":
            self.advance()
            self.nested(token)
            node = self.parse_or()
            self.nesting -= 1
            self.expect_closing(")", token)
            return node, True
        raise self.unexpected(token)

    def parse_call(self, name: Token) -> Node:
        spec = FUNCTIONS.get(name.text.lower())
        if spec is None:
            raise ExpressionError(f"Unrecognized function '{name.text}'", name.offset)
        opening = self.advance()
        arguments: list[Node] = []
        if self.at(TokenKind.PUNCTUATION, ")"):
            self.advance()
        else:
            self.nested(opening)
            while True:
                arguments.append(self.parse_or())
                if self.at(TokenKind.PUNCTUATION, ","):
                    self.advance()
                    continue
                self.expect_closing(")", opening)
                break
            self.nesting -= 1
        _check_arity(spec.name, spec.min_arguments, spec.max_arguments, len(arguments), name)
        if spec.name == "format":
            _check_literal_format(arguments)
        return Call(name.offset, spec.name, tuple(arguments))


def _check_arity(name: str, least: int, most: int, given: int, token: Token) -> None:
    if least == most:
        takes = f"{least} argument{'s' if least != 1 else ''}" if least else "no arguments"
    elif most - least == 1:
        takes = f"{least} or {most} arguments"
    else:
        takes = f"at least {least} argument{'s' if least != 1 else ''}"
    if given < least:
        raise ExpressionError(
            f"Too few arguments to {name}(): it takes {takes}, got {given}", token.offset
        )
    if given > most:
        raise ExpressionError(
            f"Too many arguments to {name}(): it takes {takes}, got {given}", token.offset
        )
    if name == "case" and given % 2 == 0:
        raise ExpressionError(
            f"case() takes an odd number of arguments (condition, value pairs and a default), "
            f"got {given}",
            token.offset,
        )


def _check_literal_format(arguments: list[Node]) -> None:
    """A format() template written as a literal can be checked now rather than at run time."""
    template = arguments[0]
    if isinstance(template, Literal) and isinstance(template.value, str):
        try:
            format_segments(template.value, len(arguments) - 1)
        except FormatProblem as problem:
            raise ExpressionError(f"format(): {problem}", template.offset) from None


def _check_depth(root: Node) -> None:
    # Chains such as `a == b == c` nest without recursion in the parser; bound them here so
    # that evaluation, which does recurse, always has room.
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(
                f"Expression nests deeper than the limit of {MAX_DEPTH} levels", node.offset
            )
        stack.extend((child, depth + 1) for child in node.children())


__all__ = ["MAX_DEPTH", "MAX_LENGTH", "parse"]
