"""``.../log/<job>/<step>.txt``: one step's whole log as plain text, streamed a page at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.http import Http404, HttpRequest, StreamingHttpResponse

from conveyor.server.accounts.permissions import role_required
from conveyor.server.runs.models import Step
from conveyor.server.ui.logs import step_text_pages
from conveyor.server.ui.views.lookup import run_of

_DONE = object()


def _find_step(name: str, number: int, job_id: int, step: int) -> Step:
    run = run_of(name, number)
    found = Step.objects.filter(job__run=run, job_id=job_id, index=step - 1).first()
    if found is None:
        raise Http404(f"run #{number} of {name} has no step {step} in job {job_id}")
    return found


async def _pages(pages: Iterator[str]) -> AsyncIterator[bytes]:
    # An async iterator: under ASGI a sync one would be read whole into memory first.
    next_page = sync_to_async(lambda: next(pages, _DONE))
    while True:
        page = await next_page()
        if page is _DONE:
            return
        yield page.encode("utf-8")


@role_required("viewer")
async def step_log(
    request: HttpRequest, name: str, number: int, job_id: int, step: int
) -> StreamingHttpResponse:
    found = await sync_to_async(_find_step)(name, number, job_id, step)
    response = StreamingHttpResponse(
        _pages(step_text_pages(found)), content_type="text/plain; charset=utf-8"
    )
    response["Content-Disposition"] = (
        f'inline; filename="{name}-{number}-job{job_id}-step{step}.txt"'
    )
    return response
