"""Turning stored text into HTML: ANSI colours, log line records, Markdown summaries."""

from __future__ import annotations

from conveyor.server.ui.ansi import AnsiState, ansi_to_html, strip_ansi
from conveyor.server.ui.logs import line_records
from conveyor.server.ui.markdown import render_summary


def test_sgr_colours_become_spans_and_text_is_escaped():
    html = ansi_to_html("\x1b[1;31mError:\x1b[0m <b>&")
    assert html == '<span class="ansi-bold ansi-fg-red">Error:</span> &lt;b&gt;&amp;'


def test_bright_background_256_and_true_colours():
    assert (
        ansi_to_html("\x1b[92;44mx") == '<span class="ansi-fg-bright-green ansi-bg-blue">x</span>'
    )
    assert ansi_to_html("\x1b[38;5;9mx") == '<span class="ansi-fg-bright-red">x</span>'
    assert ansi_to_html("\x1b[38;2;0;200;0mx") == '<span class="ansi-fg-green">x</span>'
    assert ansi_to_html("\x1b[38;5;200mx\x1b[39m y") == "x y"


def test_colour_carries_to_the_next_line_until_reset():
    state = AnsiState()
    assert ansi_to_html("\x1b[33mwarn", state) == '<span class="ansi-fg-yellow">warn</span>'
    assert ansi_to_html("still", state) == '<span class="ansi-fg-yellow">still</span>'
    assert ansi_to_html("\x1b[0mplain", state) == "plain"


def test_other_control_sequences_are_dropped():
    assert ansi_to_html("\x1b[2K\x1b[1Gdone\x1b]0;title\x07") == "done"
    assert strip_ansi("\x1b[31mred\x1b[0m") == "red"


def test_line_records_number_lines_and_mark_groups_and_commands():
    records = line_records(7, "##[group]Run make\nmake all\n##[endgroup]\n##[error]boom <x>")
    assert [(r["n"], r["kind"], r["html"]) for r in records] == [
        (7, "group", "Run make"),
        (8, "line", "make all"),
        (9, "endgroup", ""),
        (10, "error", "boom &lt;x&gt;"),
    ]


def test_markdown_summary_renders_tables_and_drops_anything_active():
    html = render_summary(
        "## Results\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        '<img src="x" onerror="alert(1)"> [link](https://example.com) '
        '<a href="javascript:alert(2)">j</a>\n\n<script>alert(3)</script>\n'
        '<iframe src="https://evil.example"></iframe><p style="color:red">styled</p>'
    )
    assert "<h2>Results</h2>" in html and "<td>1</td>" in html
    assert 'href="https://example.com"' in html and 'rel="noopener noreferrer nofollow"' in html
    for bad in ("onerror", "javascript:", "<script", "alert(3)", "<iframe", "style="):
        assert bad not in html, bad
