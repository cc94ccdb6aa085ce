"""Reading a run's logs in bounded pages and turning their lines into display records.

Logs are read a few ``LogChunk`` rows at a time (never a whole step's log), by
chunk id for the live stream and by ``seq`` for downloads. A page opened on a
huge log gets only its tail (``TAIL_LINES``): the browser would not cope with
200 MB of lines either; the download has them all. A line becomes a
record the page's script lays out: its number, its HTML (ANSI colours as spans)
and its kind — ``group``/``endgroup`` open and close a collapsible section,
``error``/``warning``/``notice``/``command``/``debug`` are the engine's
``##[...]`` markers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.db.models import Q

from conveyor.server.runs.models import LogChunk, Step
from conveyor.server.ui.ansi import AnsiState, ansi_to_html

CHUNKS_PER_PAGE = 16  # at most ~1 MiB of text in memory at a time (chunks are <= 64 KiB)
# A page shows at most about this many lines of a step (its tail); "raw" has the rest.
TAIL_LINES = 10_000

_MARKER = re.compile(r"^##\[(group|endgroup|error|warning|notice|command|debug)\](.*)$", re.S)


def line_records(
    first_line: int, text: str, state: AnsiState | None = None
) -> list[dict[str, Any]]:
    """One record a line of ``text`` (lines joined by \\n), numbered from ``first_line``."""
    state = state if state is not None else AnsiState()
    records: list[dict[str, Any]] = []
    for offset, line in enumerate(text.split("\n")):
        kind = "line"
        match = _MARKER.match(line)
        if match:
            kind, line = match.group(1), match.group(2)
        records.append({"n": first_line + offset, "kind": kind, "html": ansi_to_html(line, state)})
    return records


def tail_starts(step_ids: list[int], keep_lines: int = TAIL_LINES) -> dict[int, tuple[int, int]]:
    """For each step whose log is longer than ``keep_lines``: ``(first seq, lines skipped)``
    so that a page opened on it shows the last ``keep_lines`` lines (and the rest of the
    chunk holding the first of them), not all of them."""
    starts: dict[int, tuple[int, int]] = {}
    for step_id in step_ids:
        last = (
            LogChunk.objects.filter(step_id=step_id)
            .order_by("-seq")
            .values_list("first_line", "line_count")
            .first()
        )
        if last is None or last[0] + last[1] - 1 <= keep_lines:
            continue
        total = last[0] + last[1] - 1
        first = (
            LogChunk.objects.filter(step_id=step_id, first_line__lte=total - keep_lines + 1)
            .order_by("-seq")
            .values_list("seq", "first_line")
            .first()
        )
        if first is not None and first[1] > 1:
            starts[step_id] = (first[0], first[1] - 1)
    return starts


def chunks_after(
    step_ids: list[int],
    cursor: int,
    limit: int = CHUNKS_PER_PAGE,
    tails: dict[int, tuple[int, int]] | None = None,
) -> list[LogChunk]:
    """The next ``limit`` chunks of these steps whose id is above ``cursor``, oldest first;
    for a step in ``tails``, only from its tail's first seq on."""
    if not step_ids:
        return []
    tails = tails or {}
    wanted = Q(step_id__in=[step_id for step_id in step_ids if step_id not in tails])
    for step_id, (seq, _) in tails.items():
        wanted |= Q(step_id=step_id, seq__gte=seq)
    return list(
        LogChunk.objects.filter(wanted, id__gt=cursor)
        .only("id", "step_id", "first_line", "text")
        .order_by("id")[:limit]
    )


def step_text_pages(step: Step, page: int = CHUNKS_PER_PAGE) -> Iterator[str]:
    """A step's whole log as text, ``page`` chunks per query (for downloads)."""
    after = -1
    while True:
        chunks = list(
            LogChunk.objects.filter(step=step, seq__gt=after)
            .only("seq", "text")
            .order_by("seq")[:page]
        )
        if not chunks:
            return
        yield "".join(chunk.text + "\n" for chunk in chunks)
        after = chunks[-1].seq
