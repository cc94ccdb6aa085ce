"""YAML syntax mistakes are said in a workflow's terms, at the place to fix them
(file:line:column), not in the YAML scanner's words at the end of the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_conveyor

HEAD = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"

CASES = {
    "unclosed_quote": (
        HEAD + '      - run: "echo hello\n      - run: echo done\n',
        "6:14",
        'the " that opens this value on line 6 is never closed: add a closing "',
    ),
    "quote_closed_on_a_later_line": (
        HEAD + "      - name: 'Build\n        run: echo 'done'\n",
        "6:15",
        "the ' that opens this value on line 6 is not closed on its line",
    ),
    "dash_not_lined_up": (
        HEAD + "      - run: echo one\n     - run: echo two\n",
        "7:6",
        "a list item's '-' is not lined up with the items above it (line 6, column 7)",
    ),
    "key_where_an_item_should_be": (
        HEAD + "      - run: echo one\n      run: echo two\n",
        "7:7",
        "this line is lined up with the list's '-' (line 6, column 7) but is not a list item",
    ),
    "colon_in_a_value": (
        HEAD + "      - name: Build: all\n        run: make\n",
        "6:20",
        "a ':' inside the value of 'name': quote the value, e.g. name: \"Build: all\"",
    ),
    "key_without_colon": (
        HEAD + "      - run: make\n    timeout-minutes\n",
        "7:5",
        "'timeout-minutes' is not followed by ':'",
    ),
    "key_not_lined_up": (
        HEAD + "      - run: make\n        env:\n          A: 1\n         B: 2\n",
        "9:10",
        "this key (column 10) is not lined up with the keys above it (line 8, column 11)",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_mistake_is_named_where_it_is(repo: Path, case: str) -> None:
    text, where, message = CASES[case]
    (repo / "workflow.yml").write_text(text)
    result = run_conveyor("validate", "workflow.yml", cwd=repo)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"workflow.yml:{where}: {message}" in result.stderr, result.stderr
    assert "end of stream" not in result.stderr
    assert "Traceback" not in result.stderr
