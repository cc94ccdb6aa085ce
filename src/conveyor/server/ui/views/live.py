"""``/repos/<name>/runs/<number>/events``: the run page's live stream (Server-Sent Events).

One async generator per viewer. It sends ``state`` (statuses, the execution
table, the tracker, the concept flow) whenever the run changed, and ``log``
events — one a LogChunk, a page of chunks at a time, after the chunk-id cursor
(``?after=`` or the browser's ``Last-Event-ID`` on reconnect) — then sleeps in
``live.wait_for_change`` until the workers publish a change. Only one page of
chunks is ever in memory, however long the log; a fresh page gets only the tail
of a huge step log (``skipped`` says how many lines it left out). ``end``
closes a finished run.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, StreamingHttpResponse

from conveyor.server.accounts.permissions import role_required
from conveyor.server.runs import live
from conveyor.server.runs.models import Run, Step
from conveyor.server.ui.live_state import run_state
from conveyor.server.ui.logs import chunks_after, line_records, tail_starts
from conveyor.server.ui.views.lookup import run_of

WAKE_TIMEOUT = 2.0  # seconds; the fallback for changes made by another process
STATE_INTERVAL = 0.25  # at most four table refreshes a second while a log pours in


def _message(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _cursor(request: HttpRequest) -> int:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("after") or "0"
    try:
        return max(int(raw), 0)
    except ValueError:
        return 0


Chunk = tuple[int, int, int, str]  # id, step id, first line, text


def _read(
    run_id: int, cursor: int, with_state: bool, tails: dict[int, tuple[int, int]]
) -> tuple[dict[str, Any] | None, list[Chunk], bool]:
    run = Run.objects.filter(pk=run_id).first()
    if run is None:  # deleted while someone watched it
        return None, [], True
    step_ids = list(Step.objects.filter(job__run_id=run_id).values_list("pk", flat=True))
    # Raw text here; each chunk becomes per-line records only as it is sent, so a
    # page of chunks never sits in memory as records all at once.
    chunks = [
        (chunk.id, chunk.step_id, chunk.first_line, chunk.text)
        for chunk in chunks_after(step_ids, cursor, tails=tails)
    ]
    state = run_state(run) if with_state else None
    return state, chunks, run.finished


def _tails(run_id: int) -> dict[int, tuple[int, int]]:
    return tail_starts(list(Step.objects.filter(job__run_id=run_id).values_list("pk", flat=True)))


async def _stream(run_id: int, cursor: int) -> AsyncIterator[str]:
    read = sync_to_async(_read)
    yield "retry: 1000\n\n"
    # A fresh page gets the tail of huge logs; a reconnecting one goes on from its cursor.
    tails = await sync_to_async(_tails)(run_id) if cursor == 0 else {}
    for step_id, (_, skipped) in tails.items():
        yield _message("skipped", {"step": step_id, "lines": skipped})
    state_version = -1
    state_sent_at = 0.0
    while True:
        version = live.version(run_id)
        wait = STATE_INTERVAL - (time.monotonic() - state_sent_at)
        due = version != state_version and wait <= 0
        state, chunks, finished = await read(run_id, cursor, due, tails)
        if state is not None:
            state_version, state_sent_at = version, time.monotonic()
            yield _message("state", state, cursor)
        read_some = bool(chunks)
        chunks.reverse()  # popped from the end, oldest first
        while chunks:
            chunk_id, step_id, first_line, text = chunks.pop()
            cursor = chunk_id
            records = line_records(first_line, text)
            yield _message("log", {"step": step_id, "lines": records}, cursor)
            del records, text
        if read_some:
            continue  # more may be waiting: read the next page before sleeping
        if finished:
            if state is None:
                state, _, _ = await read(run_id, cursor, True, tails)
                if state is not None:
                    yield _message("state", state, cursor)
            yield _message("end", {"status": state["run"]["status"] if state else ""}, cursor)
            return
        if version != state_version:
            await asyncio.sleep(max(wait, 0.0))  # a change came while the state was throttled
            continue
        if not await live.wait_for_change(run_id, WAKE_TIMEOUT, since=version):
            yield ": still here\n\n"  # keeps proxies from closing an idle stream


@role_required("viewer")
async def run_events(request: HttpRequest, name: str, number: int) -> StreamingHttpResponse:
    run = await sync_to_async(run_of)(name, number)
    response = StreamingHttpResponse(
        _stream(run.pk, _cursor(request)), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events through at once
    return response
