"""StepLog: raw output bytes to masked LogLines batches, workflow commands, annotations."""

from __future__ import annotations

import time

from conveyor.engine.events import Annotation, Event, LogLines
from conveyor.engine.log_stream import StepLog
from conveyor.engine.masking import Masker


def make_log(masker: Masker | None = None, debug: bool = False, max_line: int = 64 * 1024):
    events: list[Event] = []
    log = StepLog("build", 2, events.append, masker or Masker(), debug=debug, max_line=max_line)
    return log, events


def log_text(events: list[Event]) -> list[str]:
    lines: list[str] = []
    for event in events:
        if isinstance(event, LogLines):
            lines.extend(event.lines())
    return lines


def test_lines_split_across_chunks_are_joined_and_the_tail_is_flushed_on_close():
    log, events = make_log()
    for chunk in (b"hel", b"lo\nwor", b"ld\nno newline at the end"):
        log.feed(chunk)
    assert log_text(events) == ["hello", "world"]
    log.close()
    assert log_text(events) == ["hello", "world", "no newline at the end"]
    assert all(e.job_key == "build" and e.step == 2 for e in events if isinstance(e, LogLines))


def test_a_chunk_of_plain_lines_becomes_one_event():
    log, events = make_log()
    log.feed(b"".join(f"line {n}\n".encode() for n in range(1000)))
    assert len(events) == 1
    assert events[0].lines() == [f"line {n}" for n in range(1000)]


def test_utf8_split_inside_a_character_and_invalid_bytes():
    log, events = make_log()
    encoded = "café ✓\n".encode()
    log.feed(encoded[:4])  # cuts the é in half
    log.feed(encoded[4:])
    log.feed(b"bad \xff byte\n")
    assert log_text(events) == ["café ✓", "bad \ufffd byte"]


def test_crlf_line_endings_are_removed():
    log, events = make_log()
    log.feed(b"one\r\ntwo\r\n")
    assert log_text(events) == ["one", "two"]


def test_a_line_without_newline_is_emitted_in_pieces_not_held_whole():
    log, events = make_log(max_line=1000)
    for _ in range(50):
        log.feed(b"x" * 700)
    # Before the step ends, everything but less than one piece has already left.
    emitted = sum(len(line) for line in log_text(events))
    assert emitted >= 50 * 700 - 1000
    assert all(len(line) <= 1000 for line in log_text(events))
    log.close()
    assert sum(len(line) for line in log_text(events)) == 50 * 700


def test_masks_apply_to_secrets_and_to_add_mask_values_from_then_on():
    masker = Masker(["hunter2"])
    log, events = make_log(masker)
    log.feed(b"password is hunter2\nbefore: token123\n::add-mask::token123\nafter: token123\n")
    assert log_text(events) == ["password is ***", "before: token123", "after: ***"]
    # The mask is shared: a later step (a new StepLog) hides it too.
    later, later_events = make_log(masker)
    later.feed(b"still token123 and hunter2\n")
    assert log_text(later_events) == ["still *** and ***"]


def test_longest_mask_wins_when_one_secret_contains_another():
    masker = Masker(["abc", "abcdef"])
    assert masker.mask("xx abcdef yy abc") == "xx *** yy ***"


def test_multiline_secret_masks_each_line():
    masker = Masker(["first-line\nsecond-line"])
    assert masker.mask("a first-line b second-line") == "a *** b ***"


def test_group_markers_are_kept_as_raw_log_markers():
    log, events = make_log()
    log.feed(b"::group::Install deps\npip install\n::endgroup::\n")
    assert log_text(events) == ["##[group]Install deps", "pip install", "##[endgroup]"]


def test_error_command_gives_an_annotation_with_properties_and_a_log_line():
    log, events = make_log(Masker(["s3cret"]))
    log.feed(
        b"before\n"
        b"::error file=app.py,line=12,col=5,title=Bad%3A thing::broken s3cret%0Anext line\n"
        b"after\n"
    )
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["LogLines", "Annotation", "LogLines"]
    annotation = events[1]
    assert isinstance(annotation, Annotation)
    assert (annotation.level, annotation.file, annotation.line, annotation.column) == (
        "error",
        "app.py",
        12,
        5,
    )
    assert annotation.title == "Bad: thing"
    assert annotation.message == "broken ***\nnext line"
    assert log_text(events) == ["before", "##[error]broken ***", "next line", "after"]


def test_warning_and_notice_levels():
    log, events = make_log()
    log.feed(b"::warning::careful\n::notice title=FYI::hello\n")
    annotations = [e for e in events if isinstance(e, Annotation)]
    assert [(a.level, a.message, a.title) for a in annotations] == [
        ("warning", "careful", None),
        ("notice", "hello", "FYI"),
    ]


def test_debug_lines_show_only_when_debugging():
    quiet, quiet_events = make_log()
    quiet.feed(b"::debug::details\nvisible\n")
    assert log_text(quiet_events) == ["visible"]
    loud, loud_events = make_log(debug=True)
    loud.feed(b"::debug::details\nvisible\n")
    assert log_text(loud_events) == ["##[debug]details", "visible"]


def test_stop_commands_until_the_token_comes_back():
    log, events = make_log()
    log.feed(b"::stop-commands::pause-1\n::error::not a command\n::pause-1::\n::error::real\n")
    annotations = [e for e in events if isinstance(e, Annotation)]
    assert [a.message for a in annotations] == ["real"]
    assert "::error::not a command" in log_text(events)


def test_deprecated_set_output_and_save_state_work_and_warn():
    log, events = make_log()
    log.feed(b"::set-output name=version::1.2.3\n::save-state name=pid::42\n")
    assert log.results.outputs == {"version": "1.2.3"}
    assert log.results.state == {"pid": "42"}
    warnings = [e for e in events if isinstance(e, Annotation) and e.level == "warning"]
    assert len(warnings) == 2 and "deprecated" in warnings[0].message


def test_unknown_command_and_lone_colons_stay_as_text():
    log, events = make_log()
    log.feed(b"::not a command\n::made-up::x\n")
    assert log_text(events) == ["::not a command", "::made-up::x"]


def test_plain_output_is_cheap():
    # 20 MB of ordinary lines in 64 KiB chunks: a fraction of a second, few events.
    chunk = b"".join(b"a fairly ordinary line of build output %06d\n" % n for n in range(1500))
    log, events = make_log()
    total = 0
    started = time.perf_counter()
    while total < 20_000_000:
        log.feed(chunk)
        total += len(chunk)
    log.close()
    elapsed = time.perf_counter() - started
    assert len(events) == total // len(chunk)
    assert elapsed < 1.0, f"20 MB of output took {elapsed:.2f}s"


# The fast paths (one memchr for ":" before looking for "::" commands, a whole batch
# masked and emitted at once) must give what line-by-line reading gives, wherever the
# executor's reads happen to cut the output.

PLAIN = b"".join(b"plain output line %07d\n" % n for n in range(20_000))  # ~500 KB, no colon


def feed_in_chunks(log: StepLog, data: bytes, size: int) -> None:
    for start in range(0, len(data), size):
        log.feed(data[start : start + size])
    log.close()


def test_a_secret_cut_in_two_by_the_reads_is_still_masked():
    secret = b"hunter2-long-secret"
    data = PLAIN + b"the token is " + secret + b" ok\n" + PLAIN
    cut = len(PLAIN) + len(b"the token is ") + 7  # inside the secret
    log, events = make_log(Masker([secret.decode()]))
    log.feed(data[:cut])
    log.feed(data[cut:])
    log.close()
    text = "\n".join(log_text(events))
    assert secret.decode() not in text
    assert "the token is *** ok" in log_text(events)
    assert len(log_text(events)) == 2 * 20_000 + 1


def test_a_secret_cut_at_every_offset_is_masked():
    secret = "p4ssw0rd"
    data = b"x" * 100 + b"\nsay " + secret.encode() + b" twice " + secret.encode() + b"\n"
    for cut in range(1, len(data)):
        log, events = make_log(Masker([secret]))
        log.feed(data[:cut])
        log.feed(data[cut:])
        log.close()
        assert log_text(events) == ["x" * 100, "say *** twice ***"], cut


def test_add_mask_right_at_a_read_boundary_hides_the_value_from_then_on():
    command = b"::add-mask::late-secret\n"
    after = b"now late-secret is hidden\n"
    for cut in (0, 1, 2, 5, len(command) - 1, len(command)):
        # The command starts a read, or is cut anywhere inside, after plain output.
        log, events = make_log()
        log.feed(PLAIN + command[:cut])
        log.feed(command[cut:] + after)
        log.close()
        lines = log_text(events)
        assert lines[-1] == "now *** is hidden", cut
        assert not any("add-mask" in line for line in lines), cut
        assert len(lines) == 20_000 + 1, cut


def test_error_command_after_a_long_run_of_plain_output():
    data = PLAIN * 4 + b"::error file=app.py,line=3::it broke\n" + PLAIN
    for size in (256 * 1024, 65536, 4096, 1000):
        log, events = make_log()
        feed_in_chunks(log, data, size)
        annotations = [e for e in events if isinstance(e, Annotation)]
        assert [(a.level, a.file, a.line, a.message) for a in annotations] == [
            ("error", "app.py", 3, "it broke")
        ], size
        lines = log_text(events)
        assert lines[4 * 20_000] == "##[error]it broke", size
        assert len(lines) == 5 * 20_000 + 1, size
        # Everything else passed through unchanged, in order.
        assert "\n".join(lines[: 4 * 20_000]).encode() + b"\n" == PLAIN * 4, size


def test_failed_tests_are_found_in_batches_cut_anywhere():
    from conveyor.engine.failed_tests import FailedTests

    data = PLAIN + b"FAILED tests/test_cart.py::test_total - assert 1 == 2\n" + PLAIN
    start = len(PLAIN)
    for cut in (start, start + 1, start + 3, start + 20, start + 50):
        found = FailedTests()
        log, events = make_log()
        log.feed(data[:cut])
        log.feed(data[cut:])
        log.close()
        for event in events:
            if isinstance(event, LogLines):
                found.feed(event.text)
        assert found.ids == ["tests/test_cart.py::test_total"], cut
