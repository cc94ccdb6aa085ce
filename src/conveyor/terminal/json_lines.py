"""``--json``: one JSON object a line, for machines (schema in docs/json-events.md)."""

from __future__ import annotations

import json
from typing import Any, TextIO

from conveyor.engine.events import Event, LogLines
from conveyor.engine.pipeline_status import PipelineTracker


class JsonLinesSink:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def emit(self, event: Event) -> None:
        if isinstance(event, LogLines):
            # One object per log line, as documented: a batch is an engine detail.
            head = {"type": "log", "job_key": event.job_key, "step": event.step}
            self.out.write(
                "".join(
                    json.dumps({**head, "line": line}, ensure_ascii=False) + "\n"
                    for line in event.lines()
                )
            )
        else:
            self.out.write(json.dumps(event.to_json(), ensure_ascii=False, default=str) + "\n")
        self.out.flush()

    def write_pipeline(self, tracker: PipelineTracker) -> None:
        record: dict[str, Any] = {
            "type": "pipeline",
            "workflow": tracker.workflow.path,
            "status": tracker.run_status,
            "pipeline_status": tracker.pipeline_status,
            "tracker": [{"column": c, "pipeline_status": s} for c, s in tracker.tracker()],
            "table": [vars(row) for row in tracker.table()],
        }
        self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.out.flush()
