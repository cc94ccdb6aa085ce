"""Is this a ref name git would accept, and is this a commit sha? Checked before a trigger
records anything (no Django here: the forges' parsers and the engine side may use it).

``format_problem`` follows the rules ``git help check-ref-format`` lists (without
``--allow-onelevel``, ``--refspec-pattern`` or ``--normalize``); the tests compare it
with the git binary. On top of them a trigger's ref must start with ``refs/`` and fit
what the server stores (``MAX_REF_CHARS``) and a file system can hold (a loose ref is
a file: each component at most ``MAX_COMPONENT_BYTES``); git itself sets no length.
"""

from __future__ import annotations

import re

MAX_REF_CHARS = 500  # the ref columns of runs and known refs
MAX_COMPONENT_BYTES = 255  # NAME_MAX of the usual file systems
ZERO_SHA1 = "0" * 40
ZERO_SHA256 = "0" * 64

_SHA = re.compile(r"[0-9a-fA-F]{40}(?:[0-9a-fA-F]{24})?")
_FORBIDDEN_CHARS = {" ": "a space", "~": "'~'", "^": "'^'", ":": "':'", "?": "'?'", "*": "'*'"}
_FORBIDDEN_CHARS.update({"[": "'['", "\\": "a backslash"})
_SHOWN_CHARS = 60


class NameInvalid(ValueError):
    """A ref or sha a trigger cannot use; the message names the field and what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"field {field!r} {problem}")
        self.field = field
        self.problem = problem


def shown(value: str) -> str:
    """``value`` quoted for a message, cut short when long (never echo a huge value)."""
    if len(value) <= _SHOWN_CHARS:
        return repr(value)
    return f"{value[:_SHOWN_CHARS]!r}... ({len(value):,} characters)"


def _character_problem(name: str) -> str | None:
    for index, char in enumerate(name):
        code = ord(char)
        if code < 0o40 or code == 0o177:
            return f"contains the control character {char!r} at position {index + 1}"
        if char in _FORBIDDEN_CHARS:
            return f"contains {_FORBIDDEN_CHARS[char]} at position {index + 1}"
    return None


def _component_problem(component: str) -> str | None:
    if not component:
        return "has an empty component (a leading, trailing or doubled '/')"
    if component.startswith("."):
        return f"has a component starting with '.' ({shown(component)})"
    if component.endswith(".lock"):
        return f"has a component ending with '.lock' ({shown(component)})"
    return None


def format_problem(name: str) -> str | None:
    """What makes ``name`` a ref name ``git check-ref-format`` refuses, or None if none."""
    if not name:
        return "is empty"
    if name == "@":
        return "is the single character '@'"
    problem = _character_problem(name)
    if problem:
        return problem
    if ".." in name:
        return "contains '..'"
    if "@{" in name:
        return "contains '@{'"
    if name.endswith("."):
        return "ends with '.'"
    components = name.split("/")
    if len(components) < 2:
        return "has no '/' (a full ref looks like refs/heads/main)"
    for component in components:
        problem = _component_problem(component)
        if problem:
            return problem
    return None


def ref_problem(name: str) -> str | None:
    """``format_problem`` and what a trigger's ref needs besides: ``refs/``, a sane length."""
    if len(name) > MAX_REF_CHARS:
        return f"is {len(name):,} characters long (at most {MAX_REF_CHARS})"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 text"
    problem = format_problem(name)
    if problem:
        return problem
    if not name.startswith("refs/"):
        return "does not start with 'refs/' (a full ref looks like refs/heads/main)"
    if any(len(part) > MAX_COMPONENT_BYTES for part in encoded.split(b"/")):
        return f"has a component longer than {MAX_COMPONENT_BYTES} bytes"
    return None


def check_ref(name: object, field: str = "ref") -> str:
    """``name`` if it is a full ref a trigger may use; ``NameInvalid`` saying why not."""
    if not isinstance(name, str):
        raise NameInvalid(field, f"must be a ref name string, not {type(name).__name__}")
    problem = ref_problem(name)
    if problem:
        raise NameInvalid(field, f"is not a valid git ref name: it {problem} (got {shown(name)})")
    return name


def branch_problem(branch: str) -> str | None:
    """What makes ``branch`` (without ``refs/heads/``) a name git refuses for a branch.

    ``git check-ref-format --branch`` adds two rules to a full ref's: no leading '-'
    (it would read as an option) and not ``HEAD``.
    """
    if branch == "HEAD":
        return "is HEAD"
    if branch.startswith("-"):
        return "starts with '-'"
    return ref_problem(f"refs/heads/{branch}")


def check_branch(branch: str, field: str = "branch") -> str:
    """The full ref of a branch name given without ``refs/heads/``."""
    problem = branch_problem(branch)
    if problem:
        message = f"is not a valid git branch name: it {problem}"
        raise NameInvalid(field, f"{message} (got {shown(branch)})")
    return f"refs/heads/{branch}"


def is_zero(sha: str) -> bool:
    return sha in (ZERO_SHA1, ZERO_SHA256)


def check_sha(value: object, field: str = "sha", *, zero_allowed: bool = False) -> str:
    """``value`` as a lower-case commit sha (40 hex digits SHA-1, 64 SHA-256).

    The all-zero sha means "no commit" where git sends it: the old side of a created
    ref and the new side of a deleted one. Only there may a caller allow it.
    """
    if not isinstance(value, str):
        raise NameInvalid(field, f"must be a commit sha string, not {type(value).__name__}")
    if not _SHA.fullmatch(value):
        raise NameInvalid(
            field,
            f"is not a commit sha: {shown(value)} (expected 40 or 64 hexadecimal digits)",
        )
    sha = value.lower()
    if is_zero(sha) and not zero_allowed:
        raise NameInvalid(field, "is the all-zero sha, which names no commit here")
    return sha
