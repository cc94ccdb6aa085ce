"""The ref name rules against ``git check-ref-format`` itself, on the same inputs."""

from __future__ import annotations

import random
import subprocess

import pytest

from conveyor.server.repos.refnames import (
    NameInvalid,
    branch_problem,
    check_branch,
    check_ref,
    check_sha,
    format_problem,
)

NAMED = [
    "refs/heads/main",
    "refs/tags/v1.0",
    "refs/heads/feature/x-1",
    "refs/heads/é",
    "refs/heads/a@b",
    "refs/heads/@",
    "refs/@/x",
    "refs/heads/a{b}",
    "refs/heads/-x",
    "refs/heads/foo./bar",
    "refs/heads/ab.lockx",
    "refs/pull/7/merge",
    "",
    "@",
    "HEAD",
    "main",
    "refs",
    "refs/heads/a..b",
    "refs/heads/a\nb",
    "refs/heads/a\tb",
    "refs/heads/a\x7fb",
    "refs/heads/a b",
    "refs/heads/a~1",
    "refs/heads/a^",
    "refs/heads/a:b",
    "refs/heads/a?",
    "refs/heads/*",
    "refs/heads/a[b",
    "refs/heads/a\\b",
    "refs/heads/a@{1}",
    "refs/heads/@{",
    "refs/heads/a.",
    "refs/heads/a.lock",
    "refs/heads/a.lock/b",
    "refs/heads/.lock",
    "refs/heads/.hidden",
    "refs/heads/x/..y",
    "refs/heads/a.lock.",
    "refs/heads//a",
    "/refs/heads/a",
    "refs/heads/a/",
    "refs/heads/" + "a" * 5000,
]


def git_accepts(name: str) -> bool:
    completed = subprocess.run(["git", "check-ref-format", name], capture_output=True, check=False)
    return completed.returncode == 0


def generated(count: int) -> list[str]:
    """Names built from the characters the rules are about, the same ones every time."""
    pieces = ["a", "b", ".", "/", "..", "@", "{", "lock", ".lock", " ", "~", "-", "é", "\x01"]
    chooser = random.Random(20240617)
    return [
        "refs/" + "".join(chooser.choice(pieces) for _ in range(chooser.randint(1, 7)))
        for _ in range(count)
    ]


@pytest.mark.parametrize("name", NAMED + generated(300))
def test_it_accepts_exactly_what_git_accepts(name):
    assert (format_problem(name) is None) == git_accepts(name), format_problem(name)


BRANCHES = ["main", "feature/x", "@", "é", "HEAD", "-x", "x-", "a..b", "a b", "@{-1}", "a.lock"]
BRANCHES += ["x/y", "/x", "x/", "a@{b", ".", "a.", "HEADS", "a~b", "a:b", "a\\b"]


@pytest.mark.parametrize("branch", BRANCHES)
def test_it_accepts_exactly_the_branch_names_git_accepts(branch, tmp_path):
    # Outside a repository, so that git does not expand @{-1} to a previous checkout.
    completed = subprocess.run(
        ["git", "check-ref-format", "--branch", branch], capture_output=True, cwd=tmp_path
    )
    assert (branch_problem(branch) is None) == (completed.returncode == 0), branch_problem(branch)


def test_it_refuses_nul_which_git_cannot_even_be_given():
    assert format_problem("refs/heads/a\x00b") is not None


def test_it_refuses_what_the_server_cannot_store_though_git_accepts_it():
    long = "refs/heads/" + "a" * 5000
    assert git_accepts(long)
    with pytest.raises(NameInvalid) as raised:
        check_ref(long)
    assert "5,011 characters" in str(raised.value)
    assert len(str(raised.value)) < 300


def test_it_wants_a_full_ref_for_a_trigger():
    with pytest.raises(NameInvalid, match="refs/"):
        check_ref("heads/main")
    assert check_branch("feature/x") == "refs/heads/feature/x"
    with pytest.raises(NameInvalid, match="branch"):
        check_branch("a..b")


@pytest.mark.parametrize(
    ("value", "zero_allowed", "expected"),
    [
        ("a" * 40, False, "a" * 40),
        ("ABCDEF0123" * 4, False, "abcdef0123" * 4),
        ("b" * 64, False, "b" * 64),
        ("0" * 40, True, "0" * 40),
        ("0" * 64, True, "0" * 64),
    ],
)
def test_it_normalises_a_good_sha(value, zero_allowed, expected):
    assert check_sha(value, zero_allowed=zero_allowed) == expected


@pytest.mark.parametrize(
    "value", ["HEAD", "main", "a" * 39, "a" * 41, "a" * 63, "g" * 40, " " + "a" * 40, "0" * 40, 7]
)
def test_it_refuses_a_bad_sha(value):
    with pytest.raises(NameInvalid) as raised:
        check_sha(value, "after")
    assert "'after'" in str(raised.value)
