"""The one error type of the expression language."""

from __future__ import annotations


class ExpressionError(Exception):
    """A syntax or evaluation error, pinned to a 0-based offset in the text that was given.

    `message` says what is wrong without repeating any evaluated value, so a secret that
    flowed into a function argument never ends up in a log through an error message.
    """

    def __init__(self, message: str, offset: int, expression: str | None = None) -> None:
        self.message = message
        self.offset = offset
        self.expression = expression
        super().__init__(message, offset, expression)

    def __str__(self) -> str:
        if self.expression is None:
            return f"{self.message} (at offset {self.offset})"
        return f"{self.message} (position {self.offset + 1} in expression: {self.expression})"

    def shifted(self, delta: int, expression: str) -> ExpressionError:
        """The same error, re-pinned into a larger text that contains this one at `delta`."""
        return ExpressionError(self.message, self.offset + delta, expression)
