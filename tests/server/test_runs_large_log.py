"""A step printing a large log streams into LogChunk rows with bounded memory."""

from __future__ import annotations

import os
import threading

import psutil
import pytest
from django.db.models import Max, Sum

from conveyor.server.runs import services
from conveyor.server.runs.models import LogChunk, Step
from conveyor.server.runs.sink import CHUNK_CAP
from tests.server.conftest import wait_for_run_end

pytestmark = pytest.mark.django_db(transaction=True)

# 200 MB in the benchmark (CONVEYOR_TEST_LOG_MB=200); a size that keeps the suite fast here.
LOG_MB = int(os.environ.get("CONVEYOR_TEST_LOG_MB", "20"))
LINE = "x" * 99  # 100 bytes a line with its newline


class PeakMemory:
    """Samples this process's resident memory while a run goes on."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.start = self.process.memory_info().rss
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 1e6


@pytest.mark.slow
def test_a_large_log_streams_into_chunks_with_bounded_memory(
    repository, git_project, workers, settings
):
    settings.CONVEYOR_MAX_STEP_LOG_MB = 0  # measured whole, whatever size the bench asks for
    lines = LOG_MB * 10_000
    workflow = f"on: push\nsteps:\n  - name: Noisy\n    run: yes {LINE} | head -n {lines}\n"
    git_project.commit({".conveyor.yml": workflow})
    before, after = git_project.push()
    [run] = services.create_runs_for_event(
        repository, event="push", ref="refs/heads/main", sha=after, before_sha=before
    )
    with PeakMemory() as memory:
        run = wait_for_run_end(run, timeout=60 + LOG_MB)
    assert run.status == "success", run.reason
    step = Step.objects.get(job__run=run, index=0)
    totals = LogChunk.objects.filter(step=step).aggregate(lines=Sum("line_count"), last=Max("seq"))
    assert totals["lines"] == lines
    longest = max(len(c.text) for c in LogChunk.objects.filter(step=step).only("text").iterator())
    assert longest <= CHUNK_CAP
    # The log never sits whole in memory: growth stays far below its size.
    assert memory.growth_mb < 60, memory.growth_mb
    print(f"{LOG_MB} MB log: {totals['last'] + 1} chunks, peak growth {memory.growth_mb:.0f} MB")
