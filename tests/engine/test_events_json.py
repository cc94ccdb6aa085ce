"""Events cross processes as JSON (a worker's events reach the server): every event's
``to_json`` turns back into the same event with ``event_from_json``."""

from __future__ import annotations

import json

import pytest

from conveyor.engine import events as ev
from conveyor.engine.events import Status, event_from_json

SAMPLES: list[ev.Event] = [
    ev.RunStarted("CI", ".github/workflows/ci.yml", "push", "refs/heads/main", "a" * 40, ["a"]),
    ev.RunStarted("CI", "ci.yml", "push", "refs/heads/main", "b" * 40, [], dirty=True),
    ev.JobStarted("test (3.11)", "test", "test (3.11)", {"python": "3.11", "n": 2}),
    ev.StepStarted("build", 0, "Build", "make"),
    ev.LogLines("build", 0, "one\ntwo ✓\n\tthree"),
    ev.Annotation("build", 1, "error", "boom", file="a.py", line=3, column=4, title="t"),
    ev.Annotation("build", 1, "notice", "plain"),
    ev.StepFinished(
        "build",
        1,
        "Test",
        Status.FAILURE,
        Status.FAILURE,
        1.5,
        exit_code=1,
        reason="exit code 1",
        outputs={"k": "v"},
        failed_tests=["shop.tests.T.test_x"],
    ),
    ev.JobFinished(
        "build",
        "build",
        Status.SUCCESS,
        2.0,
        outputs={"o": "1"},
        name="Build",
        matrix={"os": "linux"},
        continued_on_error=True,
    ),
    ev.StepSummary("build", 2, "# Results\n| a |"),
    ev.RunArtifacts([{"id": 1, "name": "coverage", "size": 10, "files": 2}]),
    ev.DeploymentChanged(
        "deploy", 2, "live", "/srv/shop", release="20261201T000000000Z-abc1234", url="http://x"
    ),
    ev.RunFinished(Status.CANCELLED, 3.25, reason="cancelled by dora"),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda event: event.type)
def test_an_event_survives_json(event: ev.Event) -> None:
    wire = json.loads(json.dumps(event.to_json()))
    back = event_from_json(wire)
    assert back == event
    assert type(back) is type(event)
    for name in ("status", "outcome"):
        if hasattr(back, name):
            assert isinstance(getattr(back, name), Status)


def test_every_event_of_the_vocabulary_has_a_sample() -> None:
    defined = {
        value
        for value in vars(ev).values()
        if isinstance(value, type) and issubclass(value, ev.Event) and value is not ev.Event
    }
    assert defined == {type(event) for event in SAMPLES}


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"type": "nonsense"}, "unknown type 'nonsense'"),
        ({}, "unknown type None"),
        ({"type": "log", "job_key": "a"}, "not a log event"),
    ],
)
def test_what_is_no_event_is_refused_clearly(data: dict, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        event_from_json(data)
