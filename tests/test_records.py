"""``@record`` behaves as ``@dataclass`` does for everything the engine's classes use:
each case is run on a record and on the same class made a dataclass, and both must agree."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import ClassVar

import pytest

from conveyor.records import FrozenRecordError, as_dict, field, field_names, record


def both(make):
    """The class ``make(decorator, field)`` builds, as a record and as a dataclass."""
    return make(record, field), make(dataclasses.dataclass, dataclasses.field)


def make_step(decorate, make_field):
    @decorate
    class Step:
        index: int
        name: str | None = None
        env: dict[str, str] = make_field(default_factory=dict)
        kinds: ClassVar[tuple[str, ...]] = ("run", "uses")
        label = "not a field: no annotation"

    return Step


def make_position(decorate, make_field):
    @decorate(frozen=True, order=True)
    class Position:
        file: str
        line: int
        column: int

        def __str__(self) -> str:
            return f"{self.file}:{self.line}:{self.column}"

    return Position


def make_events(decorate, make_field):
    @decorate(frozen=True)
    class Event:
        type = "event"

    @decorate(frozen=True)
    class Started(Event):
        type = "started"
        job: str
        matrix: dict[str, object] = make_field(default_factory=dict)

    @decorate(frozen=True)
    class Finished(Started):
        type = "finished"
        status: str = "success"

    return Started, Finished


@pytest.mark.parametrize("Step", both(make_step), ids=["record", "dataclass"])
def test_fields_defaults_and_fresh_factories(Step) -> None:
    first = Step(0)
    second = Step(1, "Build", env={"A": "1"})
    assert (first.index, first.name, first.env) == (0, None, {})
    assert (second.index, second.name, second.env) == (1, "Build", {"A": "1"})
    first.env["X"] = "y"
    assert Step(2).env == {}  # a new dict each time
    assert repr(second).endswith(".Step(index=1, name='Build', env={'A': '1'})")
    assert Step(1, "Build", {"A": "1"}) == second
    assert Step(1, "Build") != second
    assert Step(0) != (0, None, {})
    with pytest.raises(TypeError):
        hash(first)  # equal by value and mutable: unhashable, as dataclasses make it
    first.name = "renamed"
    assert first.name == "renamed"
    assert Step.kinds == ("run", "uses") and Step.label.startswith("not a field")


@pytest.mark.parametrize("Step", both(make_step), ids=["record", "dataclass"])
@pytest.mark.parametrize(
    "arguments",
    [((), {}), ((1, "a", {}, "extra"), {}), ((1,), {"index": 2}), ((1,), {"colour": "red"})],
    ids=["missing", "too many", "twice", "unknown"],
)
def test_wrong_arguments_are_type_errors(Step, arguments) -> None:
    args, kwargs = arguments
    with pytest.raises(TypeError):
        Step(*args, **kwargs)


@pytest.mark.parametrize("Position", both(make_position), ids=["record", "dataclass"])
def test_frozen_and_ordered(Position) -> None:
    here = Position("ci.yml", 3, 7)
    assert str(here) == "ci.yml:3:7"  # the class's own method is kept
    assert hash(here) == hash(Position("ci.yml", 3, 7))
    assert sorted([Position("b", 1, 1), Position("a", 9, 9), Position("a", 2, 5)]) == [
        Position("a", 2, 5),
        Position("a", 9, 9),
        Position("b", 1, 1),
    ]
    assert len({here, Position("ci.yml", 3, 7)}) == 1
    with pytest.raises(AttributeError):
        here.line = 4
    with pytest.raises(AttributeError):
        del here.file
    assert here.line == 3


def test_a_frozen_record_refuses_with_its_own_error() -> None:
    Position = make_position(record, field)
    with pytest.raises(FrozenRecordError):
        Position("a", 1, 1).column = 2


@pytest.mark.parametrize("classes", both(make_events), ids=["record", "dataclass"])
def test_inherited_fields_come_first_and_as_dict_matches(classes) -> None:
    Started, Finished = classes
    finished = Finished("build", {"python": ["3.11", "3.12"]}, status="failure")
    assert (finished.type, finished.job, finished.status) == ("finished", "build", "failure")
    assert Finished("build").matrix == {}
    to_dict = as_dict if hasattr(Finished, "__record__") else dataclasses.asdict
    data = to_dict(finished)
    assert data == {"job": "build", "matrix": {"python": ["3.11", "3.12"]}, "status": "failure"}
    data["matrix"]["python"].append("3.13")
    assert finished.matrix == {"python": ["3.11", "3.12"]}  # containers are copied
    assert Started("build") != Finished("build")  # another class is never equal


def test_as_dict_turns_nested_records_into_dicts() -> None:
    Position = make_position(record, field)

    @record
    class Problem:
        position: Position
        related: list[Position] = field(default_factory=list)

    problem = Problem(Position("ci.yml", 1, 2), [Position("ci.yml", 3, 4)])
    assert as_dict(problem) == {
        "position": {"file": "ci.yml", "line": 1, "column": 2},
        "related": [{"file": "ci.yml", "line": 3, "column": 4}],
    }
    assert field_names(Problem) == ("position", "related")


def test_post_init_runs_after_the_fields_are_set() -> None:
    @record
    class Source:
        text: str

        def __post_init__(self) -> None:
            self.lines = self.text.count("\n")

    assert Source("a\nb\n").lines == 2


@record(frozen=True)
class Mark:
    file: str
    line: int
    notes: list[str] = field(default_factory=list)


def test_copies_and_pickles_are_equal_records() -> None:
    here = Mark("ci.yml", 3, ["first"])
    for again in (pickle.loads(pickle.dumps(here)), copy.deepcopy(here), copy.copy(here)):
        assert again == here
        with pytest.raises(FrozenRecordError):
            again.line = 4
    assert copy.deepcopy(here).notes is not here.notes


def test_definitions_dataclasses_refuse_are_refused() -> None:
    with pytest.raises(ValueError, match="default_factory"):

        @record
        class Shared:
            items: list[str] = []  # the mistake under test

    with pytest.raises(TypeError, match="no default"):

        @record
        class Misordered:
            name: str = ""
            index: int
