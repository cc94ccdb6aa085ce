"""What steps left for the reader besides their logs: annotations and Markdown summaries."""

from __future__ import annotations

from typing import Any

from conveyor.server.runs.models import Annotation, Job, Run
from conveyor.server.ui.markdown import render_summary

MAX_ANNOTATIONS = 200  # a step that prints thousands of ::warning:: lines has them in its log


def annotations_of(run: Run) -> list[Annotation]:
    return list(
        Annotation.objects.filter(step__job__run=run)
        .select_related("step", "step__job")
        .order_by("id")[:MAX_ANNOTATIONS]
    )


def summaries_of(jobs: list[Job]) -> list[dict[str, str]]:
    """``{"title", "html"}`` of each step summary, sanitised HTML, in job and step order."""
    return [
        {
            "title": f"{job.name or job.job_key} · {step.name}",
            "html": render_summary(step.summary_markdown),
        }
        for job in jobs
        for step in job.steps.all()
        if step.summary_markdown
    ]


def annotation_records(run: Run) -> list[dict[str, Any]]:
    """The annotations as plain data for the live stream."""
    return [
        {
            "level": note.level,
            "title": note.title,
            "message": note.message,
            "where": " · ".join(part for part in (note.step.job.name, note.step.name) if part),
            "file": note.file,
            "line": note.line,
            "column": note.column,
        }
        for note in annotations_of(run)
    ]
