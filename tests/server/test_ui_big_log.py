"""A 20 MB step log: the page's stream sends only its tail and the download streams it
all, each with memory bounded by a page of chunks, not by the log."""

from __future__ import annotations

import json
import tracemalloc

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import AsyncClient

from conveyor.server.repos.models import Repository
from conveyor.server.runs.models import Job, LogChunk, Run, Step
from conveyor.server.runs.sink import CHUNK_CAP
from conveyor.server.ui.logs import TAIL_LINES

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LINE = "x" * 63  # 64 bytes with its newline
LINES_PER_CHUNK = CHUNK_CAP // 64
CHUNKS = 320  # 20 MiB
# A page of chunks is about 1 MiB; a few copies of it (rows, joined text, encoded bytes)
# may live at once, never the whole log.
MEMORY_BOUND = 8 * 1024 * 1024


@pytest.fixture
def big_step(db: None) -> Step:
    repository = Repository.objects.create(name="shop", url="/nowhere/shop.git")
    run = Run.objects.create(
        repository=repository, number=1, workflow_path="ci.yml", event="push", status="success"
    )
    job = Job.objects.create(run=run, job_key="build", job_id="build", status="success")
    step = Step.objects.create(job=job, index=0, name="Print a lot", status="success")
    for batch in range(0, CHUNKS, 40):
        LogChunk.objects.bulk_create(
            LogChunk(
                step=step,
                seq=seq,
                first_line=seq * LINES_PER_CHUNK + 1,
                line_count=LINES_PER_CHUNK,
                text="\n".join(f"{seq:05d}{LINE[5:]}" for _ in range(LINES_PER_CHUNK)),
            )
            for seq in range(batch, batch + 40)
        )
    User.objects.create_user("viewer", password="x")
    return step


async def _consume(url: str, headers: dict[str, str] | None = None) -> tuple[int, int, bytes]:
    """(bytes received, peak bytes allocated while receiving, the last 4 KiB)."""
    client = AsyncClient()
    await client.aforce_login(await User.objects.aget(username="viewer"))
    await client.get("/repos/shop/runs/1/log/0/1.txt")  # warm up: imports, URL resolver
    tracemalloc.start()
    try:
        response = await client.get(url, headers=headers or {})
        size, tail = 0, b""
        async for part in response.streaming_content:
            part = part if isinstance(part, bytes) else part.encode()
            size += len(part)
            tail = (tail + part)[-4096:]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return size, peak, tail


def test_the_download_streams_the_whole_log_in_bounded_memory(big_step):
    url = f"/repos/shop/runs/1/log/{big_step.job_id}/1.txt"
    size, peak, tail = async_to_sync(_consume)(url)
    total = CHUNKS * LINES_PER_CHUNK * 64
    assert size == total
    assert tail.endswith(f"{CHUNKS - 1:05d}{LINE[5:]}\n".encode())
    assert peak < MEMORY_BOUND, f"peak {peak} bytes for a {total}-byte log"


def test_a_fresh_page_gets_the_tail_of_a_huge_log(big_step):
    received: list[str] = []

    async def collect() -> int:
        client = AsyncClient()
        await client.aforce_login(await User.objects.aget(username="viewer"))
        await client.get("/repos/shop/runs/1/log/0/1.txt")  # warm up: imports, URL resolver
        tracemalloc.start()
        try:
            response = await client.get("/repos/shop/runs/1/events")
            async for part in response.streaming_content:
                received.append(part.decode() if isinstance(part, bytes) else part)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak = async_to_sync(collect)()
    events = [
        (block.split("event: ", 1)[1].split("\n", 1)[0], block.split("data: ", 1)[1])
        for block in "".join(received).split("\n\n")
        if "event: " in block
    ]
    total_lines = CHUNKS * LINES_PER_CHUNK
    [skipped] = [json.loads(data) for kind, data in events if kind == "skipped"]
    numbers = [
        line["n"] for kind, data in events if kind == "log" for line in json.loads(data)["lines"]
    ]
    assert skipped["step"] == big_step.pk
    assert numbers == list(range(skipped["lines"] + 1, total_lines + 1))
    assert TAIL_LINES <= len(numbers) < TAIL_LINES + LINES_PER_CHUNK
    assert events[-1][0] == "end"
    assert peak < MEMORY_BOUND, f"peak {peak} bytes"
