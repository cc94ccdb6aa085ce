"""The per-step log cap: output past ``max_step_log_bytes`` is dropped, the step runs on,
and one line at the step's end says where the log was cut and how much was dropped."""

from __future__ import annotations

from conveyor.engine.events import Annotation, Event, LogLines, Status
from conveyor.engine.log_cap import LogCap
from conveyor.engine.log_stream import StepLog
from conveyor.engine.masking import Masker
from conveyor.executors.local import LocalExecutor
from tests.engine.helpers import run_yaml

FLOOD = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: flood
        run: |
          echo "::notice::before the cut"
          yes | head -n 100000
          echo "::error::after the cut"
          echo "::add-mask::visible-later"
          echo "done=yes" >> "$GITHUB_OUTPUT"
      - run: echo "flood finished=${{ steps.flood.outputs.done }} visible-later"
"""


def test_a_bash_step_printing_past_the_cap_is_cut_and_runs_on(tmp_path):
    outcome = run_yaml(FLOOD, str(tmp_path), executor=LocalExecutor(), max_step_log_bytes=1000)
    assert outcome.result.status is Status.SUCCESS
    flood = outcome.events.log("build", 0)
    *kept, notice = flood
    assert kept[0] == "##[notice]before the cut"
    assert set(kept[1:]) == {"y"}
    shown = sum(len(line) + 1 for line in kept[1:]) + len("::notice::before the cut\n")
    assert shown <= 1000
    total = len("::notice::before the cut\n") + 200_000 + len("::error::after the cut\n")
    total += len("::add-mask::visible-later\n")
    assert notice == f"conveyor: log truncated at 1,000 bytes; {total - shown:,} bytes dropped"
    # The step was not killed: what it did after the cut happened.
    assert outcome.events.log("build", 1) == ["flood finished=yes visible-later"]
    # Workflow commands in the dropped part are not processed (not even add-mask).
    levels = [event.level for event in outcome.events.events if isinstance(event, Annotation)]
    assert levels == ["notice"]


def test_without_a_cap_nothing_is_dropped(tmp_path):
    outcome = run_yaml(FLOOD, str(tmp_path), executor=LocalExecutor())
    flood = outcome.events.log("build", 0)
    assert len(flood) == 1 + 100_000 + 1 + 0  # notice, the y lines, the error
    assert not any(line.startswith("conveyor: log truncated") for line in flood)


def test_a_step_under_the_cap_gets_no_notice(tmp_path):
    text = FLOOD.replace("yes | head -n 100000", "echo short")
    outcome = run_yaml(text, str(tmp_path), executor=LocalExecutor(), max_step_log_bytes=1000)
    assert outcome.events.log("build", 0)[-1] == "##[error]after the cut"


def capped(limit: int, masker: Masker) -> tuple[StepLog, list[Event], LogCap]:
    events: list[Event] = []
    cap = LogCap(limit)
    return StepLog("build", 0, events.append, masker, cap=cap), events, cap


def lines_of(events: list[Event]) -> list[str]:
    return [line for event in events if isinstance(event, LogLines) for line in event.lines()]


def test_the_cut_falls_between_lines_so_a_secret_is_never_shown_in_part():
    log, events, cap = capped(100, Masker(["hunter2-secret"]))
    for _ in range(20):
        log.feed(b"abc hunter2-secret\n")  # 19 bytes: the cap falls inside the sixth
    log.close()
    assert lines_of(events) == ["abc ***"] * 5
    assert (cap.kept, cap.dropped) == (95, 20 * 19 - 95)


def test_a_line_begun_before_the_cut_and_ended_after_it_is_not_shown():
    log, events, cap = capped(100, Masker(["hunter2-secret"]))
    log.feed(b"first line\n")
    log.feed(b"a long line ending in hunt")  # held back: no newline yet
    log.feed(b"er2-secret" + b"x" * 200 + b"\n")
    log.feed(b"more\n")
    log.close()
    assert lines_of(events) == ["first line"]
    assert cap.kept == len(b"first line\n")
    assert cap.kept + cap.dropped == 11 + 26 + 211 + 5
    assert "hunt" not in "".join(lines_of(events))
