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


def test_the_job_graph_puts_jobs_in_columns_by_needs_and_merges_matrix_instances():
    from conveyor.server.runs.models import Job
    from conveyor.server.ui.graph import COLUMN_GAP, NODE_HEIGHT, NODE_WIDTH, ROW_GAP, job_graph

    def job(pk: int, job_id: str, needs: list[str], status: str, name: str = "") -> Job:
        return Job(pk=pk, job_id=job_id, job_key=name or job_id, name=name or job_id,
                   needs=needs, status=status)  # fmt: skip

    graph = job_graph(
        [
            job(1, "lint", [], "success"),
            job(2, "build", [], "success"),
            job(3, "test", ["lint", "build"], "success", "test (3.11)"),
            job(4, "test", ["lint", "build"], "failure", "test (3.12)"),
            job(5, "deploy", ["test"], "skipped"),
            job(6, "docs", ["build"], "running"),
        ]
    )
    placed = {
        node.job_id: (node.column, node.row, node.status, node.instances) for node in graph.nodes
    }
    assert placed == {
        "lint": (0, 0, "success", 1),
        "build": (0, 1, "success", 1),
        "test": (1, 0, "failure", 2),
        "deploy": (2, 0, "skipped", 1),
        "docs": (1, 1, "running", 1),
    }
    assert {(a.job_id, b.job_id) for a, b in graph.edges} == {
        ("lint", "test"),
        ("build", "test"),
        ("test", "deploy"),
        ("build", "docs"),
    }
    assert graph.width == 3 * NODE_WIDTH + 2 * COLUMN_GAP
    assert graph.height == 2 * NODE_HEIGHT + ROW_GAP
    assert [node.name for node in graph.nodes if node.job_id == "test"] == ["test"]
    # Each edge leaves the right side of the needed job and enters the left of the next.
    for path, (source, target) in zip(graph.edge_paths(), graph.edges, strict=True):
        assert path["d"].startswith(f"M{source.x + NODE_WIDTH},")
        assert path["d"].split(" ")[-1].startswith(f"{target.x},")
