"""The one way runs reach workers: ``enqueue_run(run)``.

It enqueues the Django task ``execute_run_task`` with the configured ``TASKS``
backend: django-tasks-db in the embedded server (the embedded worker pool claims
it from the database), Celery behind the same call when the server scales out.
"""

from __future__ import annotations

from django_tasks import task

from conveyor.server.runs.models import Run


@task()
def execute_run_task(run_id: int) -> str:
    """Run one Run with the engine; returns its final status."""
    from conveyor.server.runs.execute import execute_run

    return execute_run(run_id)


def enqueue_run(run: Run) -> str:
    """Queue ``run`` for a worker; returns the task result id."""
    result = execute_run_task.enqueue(run.id)
    return str(result.id)
