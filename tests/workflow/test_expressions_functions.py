"""Every built-in function, written from GitHub's documented examples and rules."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from conveyor.workflow.expressions import ExpressionError, JobStatus, evaluate, parse

CONTEXTS = {
    "github": {
        "event": {"issue": {"labels": [{"name": "bug"}, {"name": "ui"}]}},
        "event_name": "push",
        "ref": "refs/heads/main",
    },
    "env": {"GREETING": "Hello", "LIST": '["a","b"]'},
    "matrix": {"flags": ["--fast", "--quiet"], "count": 3},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("contains('Hello world', 'llo')", True),
        ("contains('Hello world', 'LLO')", True),
        ("contains('Hello world', 'xyz')", False),
        ("contains('abc', '')", True),
        ("contains('abc', null)", True),  # null is '' as text
        ("contains(123, 2)", True),  # numbers are searched as their text
        ("contains('true', true)", True),
        ("contains(github.event.issue.labels.*.name, 'bug')", True),
        ("contains(github.event.issue.labels.*.name, 'BUG')", True),
        ("contains(github.event.issue.labels.*.name, 'docs')", False),
        ('contains(fromJSON(\'["push", "pull_request"]\'), github.event_name)', True),
        ("contains(fromJSON('[1, 2]'), '2')", True),  # items compare loosely
        ("contains(fromJSON('[]'), '')", False),
        ("contains(github.event, 'issue')", False),  # objects contain nothing
        ("contains('Object', github.event)", False),
        ("Contains('abc', 'B')", True),  # function names ignore case
        ("startsWith('Hello world', 'He')", True),
        ("startsWith('Hello world', 'he')", True),
        ("startsWith('Hello world', 'world')", False),
        ("startsWith(github.ref, 'refs/heads/')", True),
        ("startsWith(12345, 12)", True),
        ("startsWith(matrix.flags, '--')", False),
        ("STARTSWITH('abc', '')", True),
        ("endsWith('Hello world', 'ld')", True),
        ("endsWith('Hello world', 'LD')", True),
        ("endsWith('Hello world', 'He')", False),
        ("endsWith(github.ref, '/main')", True),
        ("endsWith(true, 'ue')", True),
        ("endsWith(matrix.flags, 'quiet')", False),
    ],
)
def test_string_search_functions(text: str, expected: bool) -> None:
    assert evaluate(text, CONTEXTS) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("format('Hello {0} {1} {2}', 'Mona', 'the', 'Octocat')", "Hello Mona the Octocat"),
        ("format('{{Hello {0} {1} {2}!}}', 'Mona', 'the', 'Octocat')", "{Hello Mona the Octocat!}"),
        ("format('{0}{0}{1}', 'a', 'b')", "aab"),
        ("format('{1} before {0}', 'a', 'b')", "b before a"),
        ("format('no placeholders')", "no placeholders"),
        ("format('{{}}')", "{}"),
        ("format('{{0}}', 'x')", "{0}"),
        ("format('{0}|{1}|{2}|{3}', null, true, 3.0, 0.5)", "|true|3|0.5"),
        ("format('{0}', matrix.flags)", "Array"),
        ("format('{0}', github.event)", "Object"),
        ("format('{0}', 'x', 'unused')", "x"),
        ("format(42)", "42"),
        ("FORMAT('{0}!', env.greeting)", "Hello!"),
    ],
)
def test_format(text: str, expected: str) -> None:
    assert evaluate(text, CONTEXTS) == expected


def test_format_evaluates_only_the_arguments_it_uses() -> None:
    # The unused argument would fail if evaluated; GitHub evaluates arguments lazily.
    assert evaluate("format('{0}', 'used', fromJSON('not json'))", {}) == "used"


FORMAT_PROBLEMS = [
    ("'{0} {1}', 'only one'", "refers to argument {1} but only 1 argument was given"),
    ("'{0}'", "refers to argument {0} but no arguments were given"),
    ("'{', 'x'", "'{' at index 0"),
    ("'a}b', 'x'", "'}' at index 1"),
    ("'{x}', 'x'", "'{' at index 0"),
    ("'{0', 'x'", "'{' at index 0"),
    ("'{0}{', 'x'", "'{' at index 3"),
    ("'{0}}', 'x'", "'}' at index 3"),
    ("'{0:D}', 'x'", "format specifiers"),
]


@pytest.mark.parametrize(("arguments", "problem"), FORMAT_PROBLEMS)
def test_format_templates_written_as_literals_are_checked_when_parsing(
    arguments: str, problem: str
) -> None:
    text = f"'x' || format({arguments})"
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert problem in caught.value.message
    assert caught.value.message.startswith("format(): ")
    assert caught.value.offset == text.index("format(") + len("format(")


@pytest.mark.parametrize(("arguments", "problem"), FORMAT_PROBLEMS)
def test_format_templates_from_contexts_fail_when_evaluated(arguments: str, problem: str) -> None:
    template, _, rest = arguments.partition("', ")
    text = "'x' && format(env.TEMPLATE" + (", " + rest if rest else "") + ")"
    contexts = {"env": {"TEMPLATE": template.strip("'")}}
    parse(text)  # nothing to see before the value is known
    with pytest.raises(ExpressionError) as caught:
        evaluate(text, contexts)
    assert problem in caught.value.message
    assert caught.value.offset == text.index("format(")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("join(github.event.issue.labels.*.name, ', ')", "bug, ui"),
        ("join(github.event.issue.labels.*.name)", "bug,ui"),  # default separator ','
        ("join(matrix.flags, ' ')", "--fast --quiet"),
        ("join('single', '-')", "single"),  # a string joins to itself
        ("join(3, '-')", "3"),
        ("join(null)", ""),
        ("join(fromJSON('[]'), '-')", ""),
        ("join(fromJSON('[1, true, null, 2.5]'), '/')", "1/true//2.5"),
        ("join(fromJSON('[[1], {}]'))", "Array,Object"),
        ("join(matrix.flags, fromJSON('[]'))", "--fast,--quiet"),  # non-text separator ignored
        ("join(matrix.flags, 0)", "--fast0--quiet"),
        ("join(github.event)", ""),
    ],
)
def test_join(text: str, expected: str) -> None:
    assert evaluate(text, CONTEXTS) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "true"),
        (3, "3"),
        (3.0, "3"),
        (2.5, "2.5"),
        ("text", '"text"'),
        ('say "hi"\n', '"say \\"hi\\"\\n"'),
        ([], "[]"),
        ({}, "{}"),
        ([1, "a"], '[\n  1,\n  "a"\n]'),
        (
            {"a": {"b": [True, None]}},
            '{\n  "a": {\n    "b": [\n      true,\n      null\n    ]\n  }\n}',
        ),
        ({"k": []}, '{\n  "k": []\n}'),
    ],
)
def test_to_json_is_pretty_with_two_space_indent(value: object, expected: str) -> None:
    assert evaluate("toJSON(value)", {"value": value}) == expected
    assert evaluate("tojson(value)", {"value": value}) == expected


def test_to_json_round_trips_through_from_json() -> None:
    event = {"labels": [{"name": "bug", "id": 7}], "draft": False, "body": None}
    text = evaluate("toJSON(event)", {"event": event})
    assert json.loads(text) == event
    assert evaluate("fromJSON(toJSON(event))", {"event": event}) == event


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fromJSON('true')", True),
        ("fromJSON('null')", None),
        ("fromJSON('42')", 42),
        ("fromJSON('4.5')", 4.5),
        ("fromJSON('\"text\"')", "text"),
        ("fromJSON(env.LIST)", ["a", "b"]),
        ("fromJSON(env.LIST)[1]", "b"),
        ('fromJSON(\'{"include": [{"os": "linux"}]}\').include[0].os', "linux"),
        ("fromJSON(5)", 5),
        ("fromJSON('  [1]  ')", [1]),
        ("fromJSON('30') > 29", True),  # the documented way to compare numbers
    ],
)
def test_from_json(text: str, expected: object) -> None:
    assert evaluate(text, CONTEXTS) == expected


@pytest.mark.parametrize("argument", ["'not json'", "''", "'{\"a\": }'", "null", "github"])
def test_from_json_rejects_bad_json_with_a_clear_error(argument: str) -> None:
    text = f"'x' && fromJSON({argument})"
    with pytest.raises(ExpressionError) as caught:
        evaluate(text, CONTEXTS)
    assert caught.value.message.startswith("fromJSON(): the argument is not valid JSON")
    assert caught.value.offset == text.index("fromJSON")


def test_from_json_error_does_not_repeat_the_text() -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate("fromJSON(secrets.TOKEN)", {"secrets": {"TOKEN": "s3cr3t-value"}})
    assert "s3cr3t-value" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("case(true, 'first', 'default')", "first"),
        ("case(false, 'first', 'default')", "default"),
        ("case(false, 'a', true, 'b', 'c')", "b"),
        ("case(false, 'a', false, 'b', 'c')", "c"),
        ("case(github.event_name == 'push', 'Pushed', 'Other')", "Pushed"),
        ("case(true, matrix.count, 0)", 3),
        ("case(true, 'x', fromJSON('bad'))", "x"),  # the default is not evaluated
    ],
)
def test_case(text: str, expected: object) -> None:
    assert evaluate(text, CONTEXTS) == expected


def test_case_conditions_must_be_booleans() -> None:
    with pytest.raises(ExpressionError, match="must be a boolean, not string"):
        evaluate("case('yes', 'a', 'b')", {})


@pytest.mark.parametrize(
    ("status", "success", "failure", "cancelled", "always"),
    [
        (None, True, False, False, True),
        (JobStatus(), True, False, False, True),
        (JobStatus(failed=True), False, True, False, True),
        (JobStatus(cancelled=True), False, False, True, True),
        (JobStatus(failed=True, cancelled=True), False, False, True, True),  # cancel wins
    ],
)
def test_status_functions(
    status: JobStatus | None, success: bool, failure: bool, cancelled: bool, always: bool
) -> None:
    assert evaluate("success()", {}, status) is success
    assert evaluate("failure()", {}, status) is failure
    assert evaluate("cancelled()", {}, status) is cancelled
    assert evaluate("always()", {}, status) is always
    assert evaluate("Success()", {}, status) is success


# -- hashFiles on real files ----------------------------------------------------------------


def _expected_hash(workspace: Path, relative_paths: list[str]) -> str:
    """GitHub's documented algorithm, written out independently of the implementation."""
    combined = hashlib.sha256()
    for relative in sorted(relative_paths):
        combined.update(hashlib.sha256((workspace / relative).read_bytes()).digest())
    return combined.hexdigest()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    files = {
        "requirements.txt": "django==5.0\n",
        "requirements-dev.txt": "pytest\n",
        "app/package-lock.json": '{"a": 1}',
        "app/src/main.py": "print('app')\n",
        "lib/package-lock.json": '{"b": 2}',
        "lib/node_modules/dep/package-lock.json": '{"c": 3}',
        ".hidden/config.yml": "x: 1\n",
        "docs/a.md": "# a\n",
        "docs/b.md": "# b\n",
    }
    for relative, content in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return tmp_path


def _hash(workspace: Path, *patterns: str) -> str:
    arguments = ", ".join("'" + pattern.replace("'", "''") + "'" for pattern in patterns)
    return evaluate(f"hashFiles({arguments})", {"github": {"workspace": str(workspace)}})


@pytest.mark.parametrize(
    ("patterns", "matched"),
    [
        (["requirements.txt"], ["requirements.txt"]),
        (["requirements*.txt"], ["requirements.txt", "requirements-dev.txt"]),
        (
            ["**/package-lock.json"],
            [
                "app/package-lock.json",
                "lib/package-lock.json",
                "lib/node_modules/dep/package-lock.json",
            ],
        ),
        (
            ["**/package-lock.json", "!**/node_modules/**"],
            ["app/package-lock.json", "lib/package-lock.json"],
        ),
        (["docs"], ["docs/a.md", "docs/b.md"]),  # a directory stands for its files
        (["docs/?.md"], ["docs/a.md", "docs/b.md"]),
        (["docs/[a].md"], ["docs/a.md"]),
        (["docs/[!a].md"], ["docs/b.md"]),
        (["**/*.yml"], [".hidden/config.yml"]),  # dot-directories are matched too
        (["app/**", "!app/src"], ["app/package-lock.json"]),
        (["docs/*.md", "!docs/a.md", "docs/a.md"], ["docs/a.md", "docs/b.md"]),  # last wins
        (["./docs/../requirements.txt"], ["requirements.txt"]),
        (["requirements.txt\ndocs/a.md"], ["requirements.txt", "docs/a.md"]),
        (["# a comment", "docs/b.md"], ["docs/b.md"]),
    ],
)
def test_hash_files_selects_files_like_github(
    workspace: Path, patterns: list[str], matched: list[str]
) -> None:
    assert _hash(workspace, *patterns) == _expected_hash(workspace, matched)


def test_hash_files_accepts_absolute_patterns_inside_the_workspace(workspace: Path) -> None:
    absolute = str(workspace / "docs" / "*.md")
    assert _hash(workspace, absolute) == _expected_hash(workspace, ["docs/a.md", "docs/b.md"])


@pytest.mark.parametrize("patterns", [["*.nothing"], ["!docs"], ["../outside.txt"], ["  "]])
def test_hash_files_without_a_match_is_empty(workspace: Path, patterns: list[str]) -> None:
    (workspace.parent / "outside.txt").write_text("outside")
    assert _hash(workspace, *patterns) == ""


def test_hash_files_changes_when_a_file_changes(workspace: Path) -> None:
    before = _hash(workspace, "**/*.md")
    (workspace / "docs" / "b.md").write_text("# changed\n")
    after = _hash(workspace, "**/*.md")
    assert before != after
    assert after == _expected_hash(workspace, ["docs/a.md", "docs/b.md"])


def test_hash_files_depends_on_file_order_not_pattern_order(workspace: Path) -> None:
    assert _hash(workspace, "docs/b.md", "docs/a.md") == _hash(workspace, "docs/a.md", "docs/b.md")


def test_hash_files_follows_symbolic_links_only_when_asked(workspace: Path) -> None:
    os.symlink(workspace / "docs", workspace / "linked")
    assert _hash(workspace, "linked/**") == ""
    assert _hash(workspace, "--follow-symbolic-links", "linked/**") == _expected_hash(
        workspace, ["linked/a.md", "linked/b.md"]
    )


def test_hash_files_needs_a_workspace() -> None:
    with pytest.raises(ExpressionError, match=r"github\.workspace"):
        evaluate("hashFiles('**')", {"github": {}})


def test_hash_files_refuses_a_fifo_swapped_in_for_a_file_without_blocking(tmp_path: Path) -> None:
    from conveyor.workflow.expressions.hashfiles import _file_digest

    fifo = tmp_path / "lock.json"
    os.mkfifo(fifo)
    with pytest.raises(ExpressionError, match="not a regular file"):
        _file_digest(fifo, "lock.json", 0)
