"""Version numbers and the ranges setup actions accept, in node-semver's and PEP 440's words.

``3.11.7``, ``3.11``, ``3.x``, ``*``, ``>=3.10 <3.13``, ``>=3.10,<3.13``, ``~3.11``,
``^3.10``, ``~=3.10``, ``==3.11.*``, ``!=3.12``, ``3.8 - 3.10``, ``a || b``. A
partial version stands for its whole family (``<=3.12`` admits 3.12.9). Pre-releases
match only when asked for: by the caller (``-dev``, ``allow-prereleases``) or by a
bound that names one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

_VERSION = re.compile(
    r"^v?(?P<release>\d+(?:\.\d+)*)"
    r"(?:-?(?P<label>a|b|c|rc|alpha|beta|dev|pre|preview)\.?(?P<number>\d*))?$",
    re.IGNORECASE,
)
_LABELS = {"a": "a", "alpha": "a", "b": "b", "beta": "b", "c": "rc", "rc": "rc", "pre": "a"}
_LABELS.update({"preview": "a", "dev": "a"})
_PARTIAL = re.compile(
    r"^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:[-.]?([a-z]+\.?\d*))?$"
)
_COMPARATOR = re.compile(r"^(>=|<=|==|!=|~=|>|<|=|~|\^)?\s*(\S+)$")


class SpecError(ValueError):
    """A version or range that cannot be read; the message says which."""


@dataclass(frozen=True, order=True)
class Version:
    release: tuple[int, int, int]
    stable: bool  # sorts a release after its pre-releases
    pre: tuple[str, int] = ("", 0)

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION.match(text.strip())
        if match is None:
            raise SpecError(f"{text!r} is not a version number")
        parts = [int(part) for part in match["release"].split(".")][:3]
        release = [*parts, 0, 0, 0][:3]
        label = match["label"]
        if label is None:
            return cls((release[0], release[1], release[2]), True)
        pre = (_LABELS[label.lower()], int(match["number"] or 0))
        return cls((release[0], release[1], release[2]), False, pre)

    def __str__(self) -> str:
        text = ".".join(str(part) for part in self.release)
        return text if self.stable else f"{text}{self.pre[0]}{self.pre[1]}"

    @property
    def minor(self) -> str:
        return f"{self.release[0]}.{self.release[1]}"


_Check = Callable[[Version], bool]


@dataclass(frozen=True)
class VersionSpec:
    """A parsed range: any of its alternatives, each all of its bounds."""

    text: str
    alternatives: tuple[tuple[_Check, ...], ...]
    names_prerelease: bool

    def matches(self, version: Version, prereleases: bool = False) -> bool:
        if not version.stable and not (prereleases or self.names_prerelease):
            return False
        return any(all(check(version) for check in checks) for checks in self.alternatives)

    def best(self, versions: Iterable[Version], prereleases: bool = False) -> Version | None:
        """The highest matching release; a pre-release only when no release matches."""
        candidates = list(versions)
        stable = [v for v in candidates if v.stable and self.matches(v)]
        if stable:
            return max(stable)
        if prereleases or self.names_prerelease:
            found = [v for v in candidates if self.matches(v, prereleases=True)]
            return max(found) if found else None
        return None


def parse_spec(text: str) -> VersionSpec:
    """The range ``text`` means; SpecError when it cannot be read."""
    original = text
    text = text.strip()
    if not text:
        raise SpecError("an empty version")
    alternatives = []
    names_prerelease = False
    for alternative in text.split("||"):
        alternative = alternative.strip()
        hyphen = re.match(r"^(\S+)\s+-\s+(\S+)$", alternative)
        if hyphen:
            low, low_pre = _partial(hyphen[1], original)
            high, high_pre = _partial(hyphen[2], original)
            names_prerelease |= low_pre or high_pre
            alternatives.append((*_bound(">=", low), *_bound("<=", high)))
            continue
        checks: list[_Check] = []
        # ">= 3.10" and ">=3.10, <3.13": glue operators to their versions first.
        glued = re.sub(r"(>=|<=|==|!=|~=|>|<|=|~|\^)\s+", r"\1", alternative)
        for token in re.split(r"[\s,]+", glued):
            if not token:
                continue
            match = _COMPARATOR.match(token)
            if match is None:
                raise SpecError(f"{original!r}: cannot read {token!r}")
            operator = match[1] or "="
            # PEP 440's "==3.11.*" is node-semver's "3.11.x".
            version_text = re.sub(r"\.\*$", ".x", match[2])
            parts, is_pre = _partial(version_text, original)
            names_prerelease |= is_pre
            checks.extend(_bound(operator, parts))
        if not checks:
            raise SpecError(f"{original!r} has an empty alternative")
        alternatives.append(tuple(checks))
    return VersionSpec(original, tuple(alternatives), names_prerelease)


_Partial = tuple[list[int], Version | None]


def _partial(text: str, original: str) -> tuple[_Partial, bool]:
    """The given parts of ``3.11``/``3.x``/``3.12.0-alpha.1``; whether it is a pre-release."""
    match = _PARTIAL.match(text.strip().lower())
    if match is None:
        raise SpecError(f"{original!r}: {text!r} is not a version")
    given: list[int] = []
    for part in match.groups()[:3]:
        if part is None or part in ("x", "*"):
            break
        given.append(int(part))
    exact = None
    if match[4] is not None:
        if len(given) < 3:
            raise SpecError(f"{original!r}: a pre-release needs major.minor.patch: {text!r}")
        exact = Version.parse(f"{given[0]}.{given[1]}.{given[2]}{match[4]}")
    return (given, exact), exact is not None


def _floor(given: list[int]) -> Version:
    padded = [*given, 0, 0, 0][:3]
    # The lowest of a family is its first pre-release (node-semver's "-0").
    return Version((padded[0], padded[1], padded[2]), False, ("", -1))


def _next(given: list[int], length: int) -> Version:
    """The first version past the family of ``given[:length]``."""
    head = given[:length]
    head[-1] += 1
    return _floor(head)


def _bound(operator: str, partial: _Partial) -> list[_Check]:
    given, exact = partial
    if exact is not None:
        return {
            "=": [lambda v: v == exact],
            "==": [lambda v: v == exact],
            "!=": [lambda v: v != exact],
            ">=": [lambda v: v >= exact],
            ">": [lambda v: v > exact],
            "<=": [lambda v: v <= exact],
            "<": [lambda v: v < exact],
        }.get(operator) or _bound(operator, (given, None))
    if not given:  # "*", "x"
        return [lambda v: operator not in ("<", "!=")]
    low = _floor(given)
    high = _next(given, len(given))
    if operator in ("=", "=="):
        return [lambda v: low <= v < high]
    if operator == "!=":
        return [lambda v: not low <= v < high]
    if operator == ">=":
        return [lambda v: v >= low]
    if operator == ">":
        return [lambda v: v >= high]
    if operator == "<":
        return [lambda v: v < low]
    if operator == "<=":
        return [lambda v: v < high]
    if operator == "~":
        upper = _next(given, min(len(given), 2))
        return [lambda v: low <= v < upper]
    if operator == "^":
        first_nonzero = next((i for i, part in enumerate(given) if part), len(given) - 1)
        upper = _next(given, first_nonzero + 1)
        return [lambda v: low <= v < upper]
    if operator == "~=":
        if len(given) < 2:
            raise SpecError(f"~={given[0]}: a compatible release needs two components")
        upper = _next(given, len(given) - 1)
        return [lambda v: low <= v < upper]
    raise SpecError(f"unknown operator {operator!r}")
