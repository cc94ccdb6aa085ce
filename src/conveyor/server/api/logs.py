"""A step's log: pages of lines by line number, and the whole log as a download.

Logs are LogChunk rows of consecutive lines. A page reads only the chunks that
cover its lines; a download streams chunk by chunk (a few at a time, by
``seq``), so a 200 MB log is never in memory, under ASGI (an async iterator, so
Django does not gather it into a list) as under WSGI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Field as SchemaField
from ninja import Query, Router, Schema

from conveyor.server.accounts.models import Role
from conveyor.server.api import lookups
from conveyor.server.api.errors import bad_input
from conveyor.server.api.schemas import ErrorOut, LogPageOut
from conveyor.server.runs.models import FINISHED_STATUSES, LogChunk, Step

router = Router(tags=["logs"])

LINES_DEFAULT = 1000
LINES_MAX = 10000
CHUNKS_PER_READ = 16  # at most 16 x 64 KiB in memory while downloading


class LogRange(Schema):
    start: int = SchemaField(1, description="First line to return (1-based).")
    limit: int = SchemaField(LINES_DEFAULT, description=f"Lines to return, 1 to {LINES_MAX}.")


def total_lines(step: Step) -> int:
    last = step.log_chunks.order_by("-seq").values_list("first_line", "line_count").first()
    return last[0] + last[1] - 1 if last else 0


def log_page(step: Step, start: int, limit: int) -> dict[str, Any]:
    """Lines ``start`` .. ``start + limit - 1`` of ``step``'s log, as far as they exist."""
    end = start + limit  # exclusive
    chunks = step.log_chunks.order_by("seq")
    covering = list(chunks.filter(first_line__lte=start).order_by("-seq")[:1]) + list(
        chunks.filter(first_line__gt=start, first_line__lt=end)
    )
    lines = []
    for chunk in covering:
        for offset, text in enumerate(chunk.lines()):
            number = chunk.first_line + offset
            if start <= number < end:
                lines.append({"number": number, "text": text})
    total = total_lines(step)
    last_shown = lines[-1]["number"] if lines else start - 1
    return {
        "start": start,
        "lines": lines,
        "next_start": last_shown + 1 if last_shown < total else None,
        "total_lines": total,
        "complete": step.status in FINISHED_STATUSES,
    }


def _chunk_batch(step_pk: int, after_seq: int) -> list[tuple[int, str]]:
    return list(
        LogChunk.objects.filter(step_id=step_pk, seq__gt=after_seq)
        .order_by("seq")
        .values_list("seq", "text")[:CHUNKS_PER_READ]
    )


def _lines_of(step_pk: int) -> Iterator[str]:
    after = -1
    while batch := _chunk_batch(step_pk, after):
        for seq, text in batch:
            after = seq
            yield text + "\n"


async def _alines_of(step_pk: int) -> AsyncIterator[str]:
    after = -1
    while batch := await sync_to_async(_chunk_batch)(step_pk, after):
        for seq, text in batch:
            after = seq
            yield text + "\n"


def stream_step_log(request: HttpRequest, step: Step, filename: str) -> StreamingHttpResponse:
    """The whole log of ``step`` as text/plain, streamed chunk by chunk."""
    content: Iterator[str] | AsyncIterator[str]
    content = _alines_of(step.pk) if isinstance(request, ASGIRequest) else _lines_of(step.pk)
    response = StreamingHttpResponse(content, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _step(name: str, number: int, job: int, index: int) -> Step:
    run = lookups.run(name, number)
    return lookups.step(lookups.job(run, job), index)


@router.get(
    "/{name}/runs/{number}/jobs/{job}/steps/{index}/log",
    response={200: LogPageOut, 400: ErrorOut, 404: ErrorOut},
    summary="A page of a step's log lines",
)
def get_log_page(
    request: HttpRequest, name: str, number: int, job: int, index: int, lines: Query[LogRange]
) -> dict[str, Any]:
    lookups.require_role(request, Role.VIEWER)
    if lines.start < 1:
        raise bad_input("start", "must be 1 or more (lines are numbered from 1)")
    if not 1 <= lines.limit <= LINES_MAX:
        raise bad_input("limit", f"must be between 1 and {LINES_MAX}")
    return log_page(_step(name, number, job, index), lines.start, lines.limit)


@router.get(
    "/{name}/runs/{number}/jobs/{job}/steps/{index}/log.txt",
    response={200: str, 404: ErrorOut},
    summary="Download a step's whole log as text",
    openapi_extra={
        "responses": {
            200: {
                "description": "The log, streamed",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        }
    },
)
def download_log(
    request: HttpRequest, name: str, number: int, job: int, index: int
) -> StreamingHttpResponse:
    lookups.require_role(request, Role.VIEWER)
    step = _step(name, number, job, index)
    return stream_step_log(request, step, f"{name}-{number}-{job}-{index}.log")
