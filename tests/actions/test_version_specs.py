"""Version ranges as setup-python and setup-node document them (node-semver, PEP 440)."""

from __future__ import annotations

import pytest

from conveyor.actions.version_specs import SpecError, Version, parse_spec

HERE = [
    Version.parse(text)
    for text in ["2.7.18", "3.8.18", "3.10.13", "3.11.2", "3.11.7", "3.12.1", "3.13.0", "3.14.0rc2"]
]


@pytest.mark.parametrize(
    ("spec", "best", "with_prereleases"),
    [
        ("3.11.2", "3.11.2", "3.11.2"),
        ("3.11", "3.11.7", "3.11.7"),
        ("3.11.x", "3.11.7", "3.11.7"),
        ("3.x", "3.13.0", "3.13.0"),
        ("3", "3.13.0", "3.13.0"),
        ("*", "3.13.0", "3.13.0"),
        (">=3.10 <3.13", "3.12.1", "3.12.1"),
        (">=3.10,<3.13", "3.12.1", "3.12.1"),
        (">= 3.10, < 3.12", "3.11.7", "3.11.7"),
        ("<=3.11", "3.11.7", "3.11.7"),
        (">3.11", "3.13.0", "3.13.0"),
        ("~3.11", "3.11.7", "3.11.7"),
        ("^3.10", "3.13.0", "3.13.0"),
        ("~=3.10.1", "3.10.13", "3.10.13"),
        ("==3.11.*", "3.11.7", "3.11.7"),
        ("!=3.13", "3.12.1", "3.12.1"),
        ("3.8 - 3.10", "3.10.13", "3.10.13"),
        ("2.7 || 3.8", "3.8.18", "3.8.18"),
        ("3.14", None, "3.14.0rc2"),
        ("3.14.0-rc.2", "3.14.0rc2", "3.14.0rc2"),
        (">=3.15", None, None),
    ],
)
def test_best_match(spec, best, with_prereleases):
    parsed = parse_spec(spec)
    assert str(parsed.best(HERE)) == str(best)
    assert str(parsed.best(HERE, prereleases=True)) == str(with_prereleases)


@pytest.mark.parametrize("text", ["", "three", ">=", "3.x.y.z", "~=3", "3.1-beta"])
def test_unreadable_ranges_are_errors(text):
    with pytest.raises(SpecError):
        parse_spec(text)


def test_node_style_versions():
    assert str(Version.parse("v20.20.2")) == "20.20.2"
    assert parse_spec("20").matches(Version.parse("v20.20.2"))
    assert not parse_spec(">=22").matches(Version.parse("v20.20.2"))
