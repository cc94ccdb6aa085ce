"""Matrix expansion, checked against GitHub's documented examples, written as YAML."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from conveyor.workflow.matrix import (
    MatrixError,
    expand_matrix,
    leg_keys,
    matrix_job_name,
    select_legs,
)


def expand(text: str) -> list[dict[str, Any]]:
    return expand_matrix(yaml.safe_load(text))


def test_no_matrix_is_one_job_without_values() -> None:
    assert expand_matrix(None) == [{}]


def test_documented_order_last_vector_varies_fastest() -> None:
    jobs = expand(
        """
        version: [10, 12, 14]
        os: [ubuntu-latest, windows-latest]
        """
    )
    assert jobs == [
        {"version": 10, "os": "ubuntu-latest"},
        {"version": 10, "os": "windows-latest"},
        {"version": 12, "os": "ubuntu-latest"},
        {"version": 12, "os": "windows-latest"},
        {"version": 14, "os": "ubuntu-latest"},
        {"version": 14, "os": "windows-latest"},
    ]


def test_documented_include_example_expanding_or_adding_configurations() -> None:
    jobs = expand(
        """
        fruit: [apple, pear]
        animal: [cat, dog]
        include:
          - color: green
          - color: pink
            animal: cat
          - fruit: apple
            shape: circle
          - fruit: banana
          - fruit: banana
            animal: cat
        """
    )
    assert jobs == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]
    # Key order follows when each value arrived, which is what job names show.
    assert list(jobs[0]) == ["fruit", "animal", "color", "shape"]


def test_documented_exclude_example_partial_matches() -> None:
    jobs = expand(
        """
        os: [macos-latest, windows-latest]
        version: [12, 14, 16]
        environment: [staging, production]
        exclude:
          - os: macos-latest
            version: 12
            environment: production
          - os: windows-latest
            version: 16
        """
    )
    assert len(jobs) == 9
    assert {"os": "macos-latest", "version": 12, "environment": "production"} not in jobs
    assert {"os": "macos-latest", "version": 12, "environment": "staging"} in jobs
    assert not [job for job in jobs if job["os"] == "windows-latest" and job["version"] == 16]
    assert jobs[0] == {"os": "macos-latest", "version": 12, "environment": "staging"}


def test_documented_expanding_example_adds_a_value_to_one_combination() -> None:
    jobs = expand(
        """
        os: [windows-latest, ubuntu-latest]
        node: [14, 16]
        include:
          - os: windows-latest
            node: 16
            npm: 6
        """
    )
    assert jobs == [
        {"os": "windows-latest", "node": 14},
        {"os": "windows-latest", "node": 16, "npm": 6},
        {"os": "ubuntu-latest", "node": 14},
        {"os": "ubuntu-latest", "node": 16},
    ]


def test_documented_adding_example_appends_a_new_combination() -> None:
    jobs = expand(
        """
        os: [windows-latest, ubuntu-latest]
        node: [14, 16]
        include:
          - os: windows-latest
            node: 17
        """
    )
    assert len(jobs) == 5
    assert jobs[-1] == {"os": "windows-latest", "node": 17}


def test_documented_fail_fast_example_with_an_extra_experimental_job() -> None:
    jobs = expand(
        """
        version: [6, 7, 8]
        experimental: [false]
        include:
          - version: 9
            experimental: true
        """
    )
    assert jobs == [
        {"version": 6, "experimental": False},
        {"version": 7, "experimental": False},
        {"version": 8, "experimental": False},
        {"version": 9, "experimental": True},
    ]


def test_include_only_matrix_runs_each_entry() -> None:
    jobs = expand(
        """
        include:
          - site: production
            datacenter: site-a
          - site: staging
            datacenter: site-b
        """
    )
    assert jobs == [
        {"site": "production", "datacenter": "site-a"},
        {"site": "staging", "datacenter": "site-b"},
    ]


def test_later_include_overwrites_only_added_values() -> None:
    jobs = expand(
        """
        os: [linux]
        include:
          - label: first
          - label: second
          - os: mac
            label: third
        """
    )
    assert jobs == [{"os": "linux", "label": "second"}, {"os": "mac", "label": "third"}]


def test_exclude_matches_nested_objects_as_subsets() -> None:
    jobs = expand(
        """
        site:
          - {name: a, url: https://a.example}
          - {name: b, url: https://b.example}
        python: ["3.11", "3.12"]
        exclude:
          - site: {name: a}
            python: "3.12"
        """
    )
    assert len(jobs) == 3
    assert {"site": {"name": "a", "url": "https://a.example"}, "python": "3.12"} not in jobs


def test_include_compares_nested_objects_exactly() -> None:
    jobs = expand(
        """
        site: [{name: a, url: x}]
        include:
          - site: {name: a}
            extra: 1
        """
    )
    # {name: a} would overwrite {name: a, url: x}, so it becomes its own combination.
    assert jobs == [{"site": {"name": "a", "url": "x"}}, {"site": {"name": "a"}, "extra": 1}]


def test_booleans_and_numbers_are_different_values() -> None:
    jobs = expand(
        """
        flag: [true, 1]
        exclude:
          - flag: 1
        """
    )
    assert jobs == [{"flag": True}]


def test_exclude_with_unknown_key_excludes_nothing() -> None:
    assert len(expand("os: [a, b]\nexclude:\n  - arch: x64\n")) == 2


def test_expansion_does_not_share_objects_with_the_input() -> None:
    matrix = {"site": [{"name": "a"}], "include": [{"extra": {"k": 1}}]}
    jobs = expand_matrix(matrix)
    jobs[0]["site"]["name"] = "changed"
    jobs[0]["extra"]["k"] = 2
    assert matrix == {"site": [{"name": "a"}], "include": [{"extra": {"k": 1}}]}


def test_256_combinations_are_allowed() -> None:
    jobs = expand_matrix({"a": list(range(16)), "b": list(range(16))})
    assert len(jobs) == 256


def test_more_than_256_combinations_are_refused() -> None:
    with pytest.raises(MatrixError, match="at most 256"):
        expand_matrix({"a": list(range(16)), "b": list(range(17))})


def test_includes_pushing_past_256_are_refused() -> None:
    matrix = {"a": list(range(16)), "b": list(range(16)), "include": [{"a": "new"}]}
    with pytest.raises(MatrixError, match="produces 257 jobs"):
        expand_matrix(matrix)


def test_huge_product_is_refused_without_building_it() -> None:
    with pytest.raises(MatrixError, match="multiply out to 1000000000000 combinations"):
        expand_matrix({f"axis{i}": list(range(10)) for i in range(12)})


def test_product_over_256_stops_early() -> None:
    with pytest.raises(MatrixError, match="produces more than 256 jobs"):
        expand_matrix({"a": list(range(100)), "b": list(range(100))})


def test_absurd_product_is_refused_even_if_excludes_would_empty_it() -> None:
    matrix: dict[str, Any] = {f"axis{i}": list(range(10)) for i in range(7)}
    matrix["exclude"] = [{"axis0": value} for value in range(10)]
    with pytest.raises(MatrixError, match="multiply out to 10000000 combinations"):
        expand_matrix(matrix)


def test_excludes_count_before_the_limit() -> None:
    matrix = {"a": list(range(16)), "b": list(range(17)), "exclude": [{"b": 16}]}
    assert len(expand_matrix(matrix)) == 256


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ({}, "matrix must define at least one vector"),
        ({"include": []}, "matrix must define at least one vector"),
        ({"exclude": [{"os": "a"}]}, "matrix must define at least one vector"),
        ({"os": []}, "matrix vector 'os' does not contain any values"),
        ({"os": "linux"}, "matrix vector 'os' must be a list of values, got the string 'linux'"),
        ({"os": "${{ fromJSON(x) }}"}, "evaluate it before expanding"),
        ({"os": ["a"], "include": {"x": 1}}, "matrix include must be a list of mappings"),
        ({"os": ["a"], "exclude": ["x"]}, "matrix exclude entry 1 must be a mapping"),
        ({"os": ["a"], "exclude": [{"os": "a"}]}, "removes every combination"),
        ("${{ fromJSON(x) }}", "matrix must be a mapping"),
    ],
)
def test_bad_matrices_get_clear_errors(matrix: Any, message: str) -> None:
    with pytest.raises(MatrixError, match=re.escape(message)):
        expand_matrix(matrix)


def test_all_excluded_but_include_still_runs() -> None:
    assert expand("os: [a]\nexclude: [{os: a}]\ninclude: [{os: b}]\n") == [{"os": "b"}]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"python": "3.11", "os": "ubuntu-latest"}, "test (3.11, ubuntu-latest)"),
        ({}, "test"),
        ({"version": 14, "experimental": True}, "test (14, true)"),
        ({"version": 3.0}, "test (3)"),
        ({"version": 3.5}, "test (3.5)"),
        ({"value": None}, "test ()"),
        ({"site": {"name": "a", "n": 1}}, 'test ({"name": "a", "n": 1})'),
        ({"list": ["x", 2]}, 'test (["x", 2])'),
    ],
)
def test_matrix_job_name(values: dict[str, Any], expected: str) -> None:
    assert matrix_job_name("test", values) == expected


def test_job_names_follow_expansion_order() -> None:
    jobs = expand("fruit: [apple]\nanimal: [cat]\ninclude:\n  - color: green\n")
    assert matrix_job_name("Build", jobs[0]) == "Build (apple, cat, green)"


# -- --matrix KEY=VALUE: which legs run -------------------------------------------------

LEGS = [
    {"python": "3.11", "os": "ubuntu"},
    {"python": 3.12, "os": "ubuntu"},
    {"python": 3.1, "os": "windows"},
    {"python": True, "os": "ubuntu", "extra": "x"},
]


@pytest.mark.parametrize(
    ("wanted", "kept"),
    [
        ({"python": ["3.11"]}, [0]),  # a text value
        ({"python": ["3.12"]}, [1]),  # a number, compared as its text
        ({"python": ["3.10"]}, [2]),  # YAML read 3.10 as 3.1: the number matches
        ({"python": ["true"]}, [3]),  # shown as in the leg's name
        ({"python": ["3.11", "3.12"]}, [0, 1]),  # several values: any of them
        ({"python": ["3.12"], "os": ["ubuntu"]}, [1]),  # every key must match
        ({"os": ["ubuntu"], "arch": ["arm64"]}, [0, 1, 3]),  # a key the matrix lacks: ignored
        ({"extra": ["x"]}, [3]),  # a key some legs lack: those legs do not match
        ({"python": ["2.7"]}, []),
    ],
)
def test_select_legs_keeps_the_legs_matching_every_key_the_matrix_has(wanted, kept):
    assert select_legs(LEGS, wanted) == kept


def test_leg_keys_lists_each_key_once_in_order():
    assert leg_keys(LEGS) == ["python", "os", "extra"]
