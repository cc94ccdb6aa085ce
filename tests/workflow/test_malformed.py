"""Malformed workflows: every problem at its exact line:column with a precise message.

Each fixture in ``malformed/`` starts with one ``# expect: LINE:COLUMN message-fragment``
comment per problem the parser must report; the problems reported must be exactly those.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conveyor.workflow.errors import WorkflowInvalid
from conveyor.workflow.load import load_workflow, parse_workflow

MALFORMED = Path(__file__).parent / "malformed"
EXPECT = re.compile(r"# expect: (\d+):(\d+) (.+)")


def expectations(path: Path) -> list[tuple[int, int, str]]:
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = EXPECT.fullmatch(line.strip())
        if match:
            found.append((int(match.group(1)), int(match.group(2)), match.group(3)))
    return found


FIXTURES = sorted(MALFORMED.glob("*.yml"))


def test_there_are_enough_fixtures() -> None:
    assert len(FIXTURES) >= 30
    assert all(expectations(path) for path in FIXTURES)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.stem)
def test_malformed_fixture(path: Path) -> None:
    display = f"malformed/{path.name}"
    with pytest.raises(WorkflowInvalid) as raised:
        load_workflow(path, display_path=display)
    problems = raised.value.problems
    expected = expectations(path)
    reported = [f"{p.position.line}:{p.position.column} {p.message}" for p in problems]
    assert len(problems) == len(expected), reported
    for problem, (line, column, fragment) in zip(problems, sorted(expected), strict=True):
        assert problem.position.file == display
        assert (problem.position.line, problem.position.column) == (line, column), reported
        assert fragment in problem.message, reported
    # The exception's text is what the CLI prints: one "file:line:column: message" a line.
    first = str(raised.value).splitlines()[0]
    line, column, _ = sorted(expected)[0]
    assert first.startswith(f"{display}:{line}:{column}: ")


def _single_problem(path: Path) -> tuple[int, int, str]:
    with pytest.raises(WorkflowInvalid) as raised:
        load_workflow(path)
    [problem] = raised.value.problems
    assert problem.position.file == str(path)
    return problem.position.line, problem.position.column, problem.message


def test_binary_file_with_nul_byte(tmp_path: Path) -> None:
    path = tmp_path / "image.yml"
    path.write_bytes(b"on: push\njobs:\x00\x01\x02PNG\n")
    line, column, message = _single_problem(path)
    assert (line, column) == (2, 6)
    assert "NUL byte" in message


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes("on: push\nname: Déploiement\n".encode("latin-1"))
    line, column, message = _single_problem(path)
    assert (line, column) == (2, 8)
    assert "not valid UTF-8" in message


def test_control_character(tmp_path: Path) -> None:
    path = tmp_path / "bell.yml"
    path.write_bytes(b"on: push\nname: ding\x07\n")
    line, column, message = _single_problem(path)
    assert (line, column) == (2, 11)
    assert "U+0007" in message


def test_file_over_one_mebibyte(tmp_path: Path) -> None:
    path = tmp_path / "huge.yml"
    filler = "# " + "x" * 98 + "\n"
    path.write_text("on: push\n" + filler * 11_000, encoding="utf-8")
    assert path.stat().st_size > 1024 * 1024
    line, column, message = _single_problem(path)
    assert (line, column) == (1, 1)
    assert "too large" in message


def test_missing_file_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"
    line, column, message = _single_problem(path)
    assert (line, column) == (1, 1)
    assert "cannot read file" in message


def test_utf8_bom_is_accepted() -> None:
    text = "\ufeffon: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo\n"
    workflow = parse_workflow(text.encode("utf-8"), "bom.yml")
    assert list(workflow.jobs) == ["a"]


def test_only_whitespace_is_empty() -> None:
    with pytest.raises(WorkflowInvalid) as raised:
        parse_workflow("\n   \n", "blank.yml")
    assert "empty" in raised.value.problems[0].message


def test_problems_are_reported_once_even_through_aliases() -> None:
    text = (
        "on: push\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: x\n"
        "    steps: &steps\n"
        "      - run: echo\n"
        "        shell: fish\n"
        "  b:\n"
        "    runs-on: x\n"
        "    steps: *steps\n"
    )
    with pytest.raises(WorkflowInvalid) as raised:
        parse_workflow(text, "alias.yml")
    assert [str(p) for p in raised.value.problems] == [
        "alias.yml:7:16: unknown shell 'fish': use bash, sh, python, or a command containing "
        "'{0}' for the script file"
    ]


WRONG_SHAPES = ("[]", "{a: b}", "~", "'${{'", "-1")
VALID = sorted((Path(__file__).parent / "valid").glob("*.yml"))


@pytest.mark.parametrize("path", VALID, ids=lambda path: path.stem)
def test_any_value_of_the_wrong_shape_is_a_problem_never_a_crash(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    value = re.compile(r"^(\s*(?:- )?[\w.-]+:) \S.*$")
    for index, line in enumerate(lines):
        match = value.match(line)
        if match is None:
            continue
        for shape in WRONG_SHAPES:
            changed = [*lines[:index], f"{match.group(1)} {shape}", *lines[index + 1 :]]
            try:
                parse_workflow("\n".join(changed), "mutated.yml")
            except WorkflowInvalid as error:
                assert error.problems
                for problem in error.problems:
                    assert 1 <= problem.position.line <= len(lines) + 1
                    assert problem.position.column >= 1


def _problems(text: str) -> list[str]:
    with pytest.raises(WorkflowInvalid) as raised:
        parse_workflow(text, "shape.yml")
    return [f"{p.position.line}:{p.position.column} {p.message}" for p in raised.value.problems]


def test_alias_that_contains_itself() -> None:
    text = "on: push\njobs:\n  a:\n    runs-on: &r [x, *r]\n    steps: [{run: x}]\n"
    assert _problems(text) == ["4:14 an alias refers to a value that contains it"]


def test_alias_bomb_is_refused_before_it_is_expanded() -> None:
    lines = ["on: push", "jobs:", "  a:", "    runs-on: x", "    steps: [{run: x}]"]
    lines += ["    strategy:", "      matrix:", "        l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        lines.append(f"        l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 10)}]")
    [problem] = _problems("\n".join(lines) + "\n")
    assert problem.startswith("13:13 aliases here expand to more than")


def test_absurd_nesting() -> None:
    text = "on: push\njobs:\n  a:\n    runs-on: " + "[" * 80 + "]" * 80 + "\n"
    [problem] = _problems(text)
    assert problem == "4:75 values are nested more than 64 deep"


def test_long_chain_of_needs_in_a_cycle() -> None:
    count = 2000
    jobs = "".join(
        f"  j{i}:\n    runs-on: x\n    needs: j{(i + 1) % count}\n    steps: [{{run: x}}]\n"
        for i in range(count)
    )
    [problem] = _problems("on: push\njobs:\n" + jobs)
    assert problem.startswith("5:12 jobs depend on each other in a cycle: j0 -> j1 -> j2")
    assert problem.endswith("j1999 -> j0")
