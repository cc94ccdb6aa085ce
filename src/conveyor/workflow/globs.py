"""GitHub's filter patterns for branches, tags and paths, compiled to regular expressions.

The syntax is the one GitHub documents in its "Filter pattern cheat sheet":

- ``*`` matches zero or more characters except ``/``;
- ``**`` matches zero or more of any character; a ``**/`` that starts a path segment may also
  match nothing at all, so ``**/README.md`` matches ``README.md``;
- ``?`` makes the preceding character (or ``[...]`` class) optional;
- ``+`` matches one or more of the preceding character (or class);
- ``[...]`` matches one listed character, with ranges inside ``a-z``, ``A-Z`` or ``0-9``;
- ``\\`` before a special character (``* ? + [ ] ! \\``) makes it literal; before anything else it
  is an ordinary backslash (file names may contain one);
- ``!`` as the first character negates the pattern inside a list (see :func:`match_filters`).

A pattern always has to match the whole name or path.
"""

from __future__ import annotations

import functools
import re

SPECIAL_CHARACTERS = frozenset("*?+[]!\\")
_RANGE_GROUPS = ("az", "AZ", "09")


class GlobError(ValueError):
    """A filter pattern GitHub would refuse; ``offset`` counts from 0 into the pattern."""

    def __init__(self, message: str, pattern: str, offset: int) -> None:
        self.message = message
        self.pattern = pattern
        self.offset = offset
        super().__init__(
            f"invalid filter pattern {pattern!r}: {message} (at character {offset + 1})"
        )


def split_negation(pattern: str) -> tuple[bool, str]:
    """Return ``(negated, body)``: a leading ``!`` marks a pattern that excludes."""
    if pattern.startswith("!"):
        return True, pattern[1:]
    return False, pattern


@functools.lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """Compile one filter pattern to a regex that matches whole names only.

    A leading ``!`` is not part of what is matched: ``compile_glob("!docs/**")`` matches what
    ``docs/**`` matches. Whether a match includes or excludes is decided by :func:`match_filters`.
    """
    negated, body = split_negation(pattern)
    start = 1 if negated else 0
    if not pattern:
        raise GlobError("a pattern cannot be empty", pattern, 0)
    if negated and not body:
        raise GlobError("'!' must be followed by a pattern", pattern, 0)
    translator = _Translator(pattern, start)
    return re.compile(r"\A" + translator.translate() + r"\Z", re.DOTALL)


def check_glob(pattern: str) -> None:
    """Raise :class:`GlobError` when ``pattern`` is not a valid filter pattern."""
    compile_glob(pattern)


def match_filters(patterns: list[str], value: str) -> bool:
    """GitHub's list semantics: ``value`` is included when the last pattern matching it is positive.

    Patterns are read in order; a positive pattern includes what it matches and a ``!`` pattern
    takes it out again, so a list of only negations includes nothing.
    """
    included = False
    for pattern in patterns:
        negated, _ = split_negation(pattern)
        if compile_glob(pattern).match(value):
            included = not negated
    return included


class _Translator:
    """Walks one pattern left to right, emitting regex pieces."""

    def __init__(self, pattern: str, start: int) -> None:
        self.pattern = pattern
        self.start = start
        self.index = start
        self.pieces: list[str] = []
        # Whether the last piece is a single character or class that ``?``/``+`` may repeat.
        self.can_repeat = False

    def fail(self, message: str, offset: int) -> GlobError:
        return GlobError(message, self.pattern, offset)

    def translate(self) -> str:
        pattern = self.pattern
        while self.index < len(pattern):
            char = pattern[self.index]
            if char == "*":
                self._star()
            elif char in "?+":
                self._quantifier(char)
            elif char == "[":
                self._character_class()
            elif char == "\\":
                self._escape()
            elif char in "\r\n":
                raise self.fail("a pattern cannot contain a line break", self.index)
            else:
                self._literal(char)
                self.index += 1
        return "".join(self.pieces)

    def _literal(self, char: str) -> None:
        self.pieces.append(re.escape(char))
        self.can_repeat = True

    def _star(self) -> None:
        pattern = self.pattern
        begin = self.index
        end = begin
        while end < len(pattern) and pattern[end] == "*":
            end += 1
        self.index = end
        self.can_repeat = False
        if end - begin == 1:
            self.pieces.append("[^/]*")
            return
        starts_segment = begin == self.start or pattern[begin - 1] == "/"
        if starts_segment and end < len(pattern) and pattern[end] == "/":
            # ``**/`` may stand for no directory at all: ``**/README.md`` matches ``README.md``.
            self.pieces.append("(?:.*/)?")
            self.index = end + 1
        else:
            self.pieces.append(".*")

    def _quantifier(self, char: str) -> None:
        if not self.can_repeat:
            name = "zero or one" if char == "?" else "one or more"
            raise self.fail(
                f"'{char}' ({name} of the preceding character) must follow an ordinary "
                f"character or a [...] class; escape it as '\\{char}' to match it literally",
                self.index,
            )
        self.pieces.append(char)
        self.can_repeat = False
        self.index += 1

    def _escape(self) -> None:
        following = self.pattern[self.index + 1 : self.index + 2]
        if following and following in SPECIAL_CHARACTERS:
            self._literal(following)
            self.index += 2
        else:
            self._literal("\\")
            self.index += 1

    def _character_class(self) -> None:
        pattern = self.pattern
        opening = self.index
        position = opening + 1
        members: list[str] = []
        while True:
            if position >= len(pattern):
                raise self.fail("'[' is never closed by ']'", opening)
            char = pattern[position]
            if char == "]":
                break
            if char == "\\" and position + 1 < len(pattern):
                char = pattern[position + 1]
                position += 1
            if char in "\r\n":
                raise self.fail("a pattern cannot contain a line break", position)
            is_range = (
                position + 2 < len(pattern)
                and pattern[position + 1] == "-"
                and pattern[position + 2] != "]"
            )
            if is_range:
                last = pattern[position + 2]
                self._check_range(char, last, position)
                members.append(f"{re.escape(char)}-{re.escape(last)}")
                position += 3
            else:
                members.append(re.escape(char))
                position += 1
        if not members:
            raise self.fail("'[]' must list at least one character", opening)
        self.pieces.append("[" + "".join(members) + "]")
        self.can_repeat = True
        self.index = position + 1

    def _check_range(self, first: str, last: str, offset: int) -> None:
        for low, high in _RANGE_GROUPS:
            if low <= first <= high and low <= last <= high:
                if first > last:
                    raise self.fail(
                        f"range '{first}-{last}' is backwards; write '{last}-{first}'", offset
                    )
                return
        raise self.fail(
            f"range '{first}-{last}' is not allowed; ranges must stay within a-z, A-Z or 0-9",
            offset,
        )
