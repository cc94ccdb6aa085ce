"""Filter patterns, checked against the examples of GitHub's "Filter pattern cheat sheet"."""

from __future__ import annotations

import pytest

from conveyor.workflow.globs import GlobError, check_glob, compile_glob, match_filters

# (pattern, names the cheat sheet says it matches, names it must not match)
BRANCH_AND_TAG_EXAMPLES = [
    ("feature/*", ["feature/my-branch", "feature/your-branch"], ["feature/a/b", "feature"]),
    (
        "feature/**",
        ["feature/beta-a/my-branch", "feature/your-branch", "feature/mona/the/octocat"],
        ["feature", "features/x", "main"],
    ),
    ("main", ["main"], ["main2", "xmain", "Main"]),
    ("releases/mona-the-octocat", ["releases/mona-the-octocat"], ["releases/mona"]),
    ("*", ["main", "releases"], ["releases/v1", "a/b"]),
    ("**", ["all/the/branches", "every/tag", "main"], []),
    ("*feature", ["mona-feature", "feature", "ver-10-feature"], ["feature-x", "a/feature"]),
    ("v2*", ["v2", "v2.0", "v2.9"], ["v1", "v2/x", "xv2"]),
    ("v[12].[0-9]+.[0-9]+", ["v1.10.1", "v2.0.0"], ["v3.0.0", "v1.0", "v1.x.0", "v1..0"]),
]

PATH_EXAMPLES = [
    ("*", ["README.md", "server.rb"], ["docs/README.md"]),
    ("*.jsx?", ["page.js", "page.jsx"], ["page.jsxx", "page.j", "src/page.js"]),
    ("**", ["all/the/files.md"], []),
    ("*.js", ["app.js", "index.js"], ["js/index.js", "app.jsx"]),
    ("**.js", ["index.js", "js/index.js", "src/js/app.js"], ["index.ts"]),
    ("docs/*", ["docs/README.md", "docs/file.txt"], ["docs/mona/octocat.txt", "README.md"]),
    ("docs/**", ["docs/README.md", "docs/mona/octocat.txt"], ["src/docs/x.md", "doc/x"]),
    (
        "docs/**/*.md",
        ["docs/README.md", "docs/mona/hello-world.md", "docs/a/markdown/file.md"],
        ["docs/a/file.txt", "src/docs/a.md"],
    ),
    (
        "**/docs/**",
        ["docs/hello.md", "dir/docs/my-file.txt", "space/docs/plan/space.doc"],
        ["documents/x", "mydocs/x"],
    ),
    ("**/README.md", ["README.md", "js/README.md"], ["README.mdx", "js/NOTREADME.md"]),
    ("**/*src/**", ["a/src/app.js", "my-src/code/js/app.js"], ["src", "a/source/app.js"]),
    ("**/*-post.md", ["my-post.md", "path/their-post.md"], ["post.md", "my-post.mdx"]),
    (
        "**/migrate-*.sql",
        ["migrate-10909.sql", "db/migrate-v1.0.sql", "db/sept/migrate-v1.sql"],
        ["db/migrate.sql", "migrate-1.sqlite"],
    ),
]


def _cases(examples: list[tuple[str, list[str], list[str]]], matches: bool) -> list:
    picked = []
    for pattern, good, bad in examples:
        for value in good if matches else bad:
            picked.append(pytest.param(pattern, value, id=f"{pattern}~{value}"))
    return picked


@pytest.mark.parametrize(
    ("pattern", "value"), _cases(BRANCH_AND_TAG_EXAMPLES + PATH_EXAMPLES, matches=True)
)
def test_documented_examples_match(pattern: str, value: str) -> None:
    assert compile_glob(pattern).match(value)
    assert match_filters([pattern], value)


@pytest.mark.parametrize(
    ("pattern", "value"), _cases(BRANCH_AND_TAG_EXAMPLES + PATH_EXAMPLES, matches=False)
)
def test_documented_patterns_reject_other_names(pattern: str, value: str) -> None:
    assert not compile_glob(pattern).match(value)
    assert not match_filters([pattern], value)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("Octo*", "Octocat", True),
        ("Octo*", "Octo", True),
        ("[CB]at", "Cat", True),
        ("[CB]at", "Bat", True),
        ("[CB]at", "Rat", False),
        ("[1-2]00", "100", True),
        ("[1-2]00", "200", True),
        ("[1-2]00", "300", False),
        ("release/v[0-9].[0-9]", "release/v1.2", True),
        ("release/v[0-9].[0-9]", "release/v1x2", False),
        ("[0-9a-z]", "q", True),
        ("[0-9a-z]", "Q", False),
        ("ab+c", "ac", False),
        ("ab+c", "abbbc", True),
        ("colou?r", "color", True),
        ("colou?r", "colour", True),
        ("colou?r", "colouur", False),
        ("[0-9]?x", "x", True),
        ("[0-9]?x", "7x", True),
        ("[0-9]?x", "77x", False),
    ],
)
def test_operators(pattern: str, value: str, expected: bool) -> None:
    assert bool(compile_glob(pattern).match(value)) is expected


@pytest.mark.parametrize(
    ("pattern", "value", "other"),
    [
        (r"a\*b", "a*b", "axb"),
        (r"v1\+", "v1+", "v11"),
        (r"what\?", "what?", "wha"),
        (r"\[x]", "[x]", "x"),
        (r"\!important", "!important", "important"),
        (r"back\\slash", "back\\slash", "backslash"),
    ],
)
def test_backslash_makes_special_characters_literal(pattern: str, value: str, other: str) -> None:
    assert compile_glob(pattern).match(value)
    assert not compile_glob(pattern).match(other)


def test_escaped_bang_is_a_positive_pattern() -> None:
    assert match_filters([r"\!x"], "!x")


def test_backslash_before_an_ordinary_character_is_a_literal_backslash() -> None:
    assert compile_glob(r"dir\name").match("dir\\name")


def test_bang_inside_a_pattern_is_ordinary() -> None:
    assert compile_glob("wow!").match("wow!")


def test_regex_metacharacters_are_literal() -> None:
    assert compile_glob("a.b(c)|d$").match("a.b(c)|d$")
    assert not compile_glob("a.b").match("axb")


@pytest.mark.parametrize(
    ("patterns", "value", "expected"),
    [
        # Documented: a later negation excludes, a later positive pattern re-includes.
        (["*.md", "!README.md"], "hello.md", True),
        (["*.md", "!README.md"], "README.md", False),
        (["*.md", "!README.md"], "docs/hello.md", False),
        (["*.md", "!README.md", "README*"], "hello.md", True),
        (["*.md", "!README.md", "README*"], "README.md", True),
        (["*.md", "!README.md", "README*"], "README.doc", True),
        # The branch example: main, releases/** except releases/**-alpha.
        (["main", "releases/**", "!releases/**-alpha"], "releases/10", True),
        (["main", "releases/**", "!releases/**-alpha"], "releases/beta/mona", True),
        (["main", "releases/**", "!releases/**-alpha"], "releases/10-alpha", False),
        (["main", "releases/**", "!releases/**-alpha"], "main", True),
        (["main", "releases/**", "!releases/**-alpha"], "dev", False),
        # Order matters: a negation before the positive pattern excludes nothing.
        (["!releases/**-alpha", "releases/**"], "releases/10-alpha", True),
        # A list of only negations includes nothing.
        (["!main"], "dev", False),
        (["!main"], "main", False),
        ([], "main", False),
    ],
)
def test_match_filters_last_matching_pattern_decides(
    patterns: list[str], value: str, expected: bool
) -> None:
    assert match_filters(patterns, value) is expected


def test_negated_pattern_compiles_to_its_positive_body() -> None:
    assert compile_glob("!docs/**").match("docs/a.md")


def test_compiled_patterns_are_cached() -> None:
    assert compile_glob("cache/**") is compile_glob("cache/**")


@pytest.mark.parametrize(
    ("pattern", "offset", "words"),
    [
        ("", 0, "empty"),
        ("!", 0, "followed by a pattern"),
        ("+x", 0, "'+'"),
        ("?x", 0, "'?'"),
        ("!?x", 1, "'?'"),
        ("a*+", 2, "'+'"),
        ("a**?", 3, "'?'"),
        ("a++", 2, "'+'"),
        ("v[0-9", 1, "never closed"),
        ("x[]", 1, "at least one"),
        ("[9-0]", 1, "backwards"),
        ("[a-Z]", 1, "a-z, A-Z or 0-9"),
        ("[!-/]", 1, "a-z, A-Z or 0-9"),
        ("main\nx", 4, "line break"),
    ],
)
def test_bad_patterns_say_what_and_where(pattern: str, offset: int, words: str) -> None:
    with pytest.raises(GlobError) as caught:
        check_glob(pattern)
    error = caught.value
    assert error.offset == offset
    assert words in error.message
    assert repr(pattern) in str(error)
    assert f"at character {offset + 1}" in str(error)


def test_glob_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        compile_glob("[")


def test_match_filters_reports_bad_pattern() -> None:
    with pytest.raises(GlobError):
        match_filters(["main", "[oops"], "main")


@pytest.mark.parametrize("pattern", ["[a-]", "[-a]", "x]", "a/?b"])
def test_edge_patterns_are_valid(pattern: str) -> None:
    check_glob(pattern)


def test_dash_at_the_edge_of_a_class_is_literal() -> None:
    assert compile_glob("[a-]").match("-")
    assert compile_glob("[-a]").match("a")
    assert not compile_glob("[a-]").match("b")
