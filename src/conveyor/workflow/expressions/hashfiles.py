"""hashFiles(): one SHA-256 over the files that glob patterns select in the workspace.

Patterns follow GitHub's @actions/glob rules: relative to the workspace, `*` and `?` and
`[...]` within one path segment, `**` across segments, `!` to exclude, a later pattern
overriding an earlier one, a directory standing for every file beneath it, and dot-files
matched like any other. The result is the SHA-256 of the concatenated SHA-256 digests of the
matched files, taken in path order; no match gives ''.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import ExpressionError

_GLOB_CHARS = frozenset("*?[")
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class _Rule:
    exclude: bool
    matches: re.Pattern[str]  # matched against a workspace-relative posix path
    root: str  # the literal leading directories, where a search for matches can start


def hash_files(
    workspace: Path, patterns: list[str], follow_symlinks: bool = False, offset: int = 0
) -> str:
    workspace = Path(os.path.abspath(workspace))
    rules = [rule for line in "\n".join(patterns).split("\n") if (rule := _rule(line, workspace))]
    includes = [rule for rule in rules if not rule.exclude]
    if not includes:
        return ""
    selected = sorted(
        relative
        for relative in _candidates(workspace, {rule.root for rule in includes}, follow_symlinks)
        if _selected(relative, rules)
    )
    if not selected:
        return ""
    import hashlib  # only when a workflow calls hashFiles

    combined = hashlib.sha256()
    for relative in selected:
        combined.update(_file_digest(workspace / relative, relative, offset))
    return combined.hexdigest()


def _rule(line: str, workspace: Path) -> _Rule | None:
    pattern = line.strip()
    if not pattern or pattern.startswith("#"):
        return None
    exclude = False
    while pattern.startswith("!"):
        exclude = not exclude
        pattern = pattern[1:]
    relative = _relative_pattern(pattern.replace("\\", "/"), workspace)
    if relative is None:
        return None  # outside the workspace: GitHub ignores such files
    segments = [segment for segment in relative.split("/") if segment]
    literal: list[str] = []
    for segment in segments:
        if _GLOB_CHARS.intersection(segment):
            break
        literal.append(segment)
    # Every pattern also selects whatever lies beneath what it names.
    regex = _segments_regex(segments) + ("" if segments and segments[-1] == "**" else "(?:/.*)?")
    return _Rule(exclude, re.compile(regex, re.DOTALL), "/".join(literal))


def _relative_pattern(pattern: str, workspace: Path) -> str | None:
    root = workspace.as_posix()
    if not posixpath.isabs(pattern):
        pattern = posixpath.join(root, pattern)
    normalized = posixpath.normpath(pattern)
    if normalized == root:
        return ""
    if not normalized.startswith(root.rstrip("/") + "/"):
        return None
    return normalized[len(root.rstrip("/")) + 1 :]


def _segments_regex(segments: list[str]) -> str:
    parts: list[str] = []
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        if segment == "**":
            parts.append(".*" if last else "(?:[^/]+/)*")
        else:
            parts.append(_segment_regex(segment) + ("" if last else "/"))
    return "".join(parts)


def _segment_regex(segment: str) -> str:
    out: list[str] = []
    position = 0
    while position < len(segment):
        char = segment[position]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (close := _class_end(segment, position)) > 0:
            body = segment[position + 1 : close]
            negate = body[:1] in ("!", "^")
            if negate:
                body = body[1:]
            escaped = "".join(c if c == "-" else re.escape(c) for c in body)
            out.append("[" + ("^" if negate else "") + escaped + "]")
            position = close
        else:
            out.append(re.escape(char))
        position += 1
    return "".join(out)


def _class_end(segment: str, start: int) -> int:
    """Index of the ']' closing the class opened at `start`, or -1 when it is a literal '['."""
    position = start + 1
    if position < len(segment) and segment[position] in "!^":
        position += 1
    if position < len(segment) and segment[position] == "]":
        position += 1  # a ']' right after the opening is part of the class
    close = segment.find("]", position)
    return close


def _candidates(workspace: Path, roots: set[str], follow_symlinks: bool) -> set[str]:
    found: set[str] = set()
    for root in roots:
        start = workspace / root if root else workspace
        if start.is_file():
            found.add(root)
            continue
        if not start.is_dir() or (start.is_symlink() and not follow_symlinks):
            continue
        for directory, subdirectories, files in os.walk(start, followlinks=follow_symlinks):
            base = Path(directory).relative_to(workspace).as_posix()
            prefix = "" if base == "." else base + "/"
            for name in files:
                if os.path.isfile(os.path.join(directory, name)):
                    found.add(prefix + name)
            if follow_symlinks:
                # Following links can loop; a directory reached twice is not walked again.
                subdirectories[:] = [
                    name for name in subdirectories if not _is_loop(Path(directory) / name)
                ]
    return found


def _is_loop(path: Path) -> bool:
    if not path.is_symlink():
        return False
    target = path.resolve()
    return target == path.parent.resolve() or target in path.parent.resolve().parents


def _selected(relative: str, rules: list[_Rule]) -> bool:
    selected = False
    for rule in rules:
        if rule.exclude:
            if selected and rule.matches.fullmatch(relative):
                selected = False
        elif not selected and rule.matches.fullmatch(relative):
            selected = True
    return selected


def _file_digest(path: Path, relative: str, offset: int) -> bytes:
    import hashlib

    digest = hashlib.sha256()
    try:
        # Non-blocking, and only a regular file: a step's leftover process may have put a
        # FIFO where the file was, which would hang the run reading it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as stream:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ExpressionError(f"hashFiles(): '{relative}' is not a regular file", offset)
            os.set_blocking(fd, True)
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    except OSError as error:
        raise ExpressionError(
            f"hashFiles(): cannot read '{relative}': {error.strerror or error}", offset
        ) from None
    return digest.digest()
