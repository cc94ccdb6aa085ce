"""What a scaled-out server and its ``conveyor worker`` processes say to each other.

Both sides import this module; it imports nothing of Django or Celery, so a worker
(which has no database credentials and no server settings) can.

The broker carries no plan and no secret: a Celery message names one attempt of
one job (``JobDispatch``) and the attempt's token. Everything else goes over HTTP
to the server's URL, so a worker needs the broker's URL, the server's URL and the
workers' shared token, nothing more.

Every request carries ``Authorization: Bearer <CONVEYOR_WORKER_TOKEN>``; requests
about one job also carry ``X-Conveyor-Job-Token: <the attempt's token>``. Bodies
and answers are JSON unless said otherwise. An answer of 503 (with
``Retry-After``) means "not now, send the same again later" (the server is
starting, or the run's coordinator is not back yet after a restart): a worker
keeps what it could not send and sends it again, in order.

``POST /api/worker/heartbeat`` (every ``HEARTBEAT_SECONDS``)
    body ``{name, labels, system, machine, concurrency, version, started_at,
    running: [dispatch ids], stopping: bool}``
    answer ``{queues: [queue names this worker should consume], cancel: [dispatch
    ids it runs that were cancelled]}``

``POST /api/worker/jobs/<dispatch id>/claim``  body ``{worker: name}``
    answer 200 ``{plan: JobPlan.to_json(), git_url, repository}``: the job is this
    worker's; 409 ``{detail}``: it is not (claimed by another delivery, cancelled,
    finished, lost): acknowledge the message and drop it.

``<git_url>`` is the commit's repository over git's smart HTTP (fetch only, this
    job's repository only); send both headers above with ``http.extraHeader``.

``POST /api/worker/jobs/<dispatch id>/events``
    body ``{seq, events: [Event.to_json()...]}``: batches numbered from 1, each sent
    until it is accepted; a batch whose ``seq`` was stored already is accepted and
    ignored. An empty batch is a heartbeat: send one at least every
    ``HEARTBEAT_SECONDS`` while the job runs.
    answer 200 ``{cancel: bool}``: cancel the job when true; 409 ``{detail}``: this
    attempt is over (its worker was declared lost): stop the job, send nothing more.

``POST /api/worker/jobs/<dispatch id>/environment``  body ``{name, url}``
    the job's ``environment:`` gate (``engine/environments.py``), asked on the
    server: answer 200 ``{secrets, variables}`` when the job may go on; 202
    ``{waiting: reason}`` when it must wait (approval, another deployment): ask
    again; 403 ``{reason, status}`` when refused.
``POST /api/worker/jobs/<dispatch id>/environment/release``  body ``{status, url}``

``PUT /api/worker/jobs/<dispatch id>/artifacts/<path>``  body: the file's bytes
    what ``upload-artifact`` wrote under the job's artifacts directory, sent
    after the job and before ``finish``; the server keeps it with the run.

``GET /api/worker/jobs/<dispatch id>/artifacts.tar``
    the run's artifacts so far (what other jobs uploaded), as a tar of the run's
    artifact store: a worker unpacks it into the job's artifacts directory before a
    job that downloads artifacts, and sends back only what the job added.

``POST /api/worker/jobs/<dispatch id>/finish``
    body ``{seq, events: [...], outcome: JobOutcome.to_json()}``: the last batch and
    the outcome; idempotent. answer 200 ``{}``.
"""

from __future__ import annotations

import hashlib
import re

# The Celery task a worker runs: args ``[dispatch_id, job_token]``.
RUN_JOB_TASK = "conveyor.run_job"
# The queue of jobs that ask for no label at all.
DEFAULT_QUEUE = "conveyor.jobs"
HEARTBEAT_SECONDS = 2.0
JOB_TOKEN_HEADER = "X-Conveyor-Job-Token"

HEARTBEAT_PATH = "/api/worker/heartbeat"


def job_path(dispatch_id: int, action: str) -> str:
    """``/api/worker/jobs/<id>/<action>``: claim, events, finish, git."""
    return f"/api/worker/jobs/{dispatch_id}/{action}"


def queue_for(labels: list[str]) -> str:
    """The broker queue of jobs asking for exactly these labels (order and case aside).

    Readable when short (``conveyor.jobs.linux+x64``); labels are free text, so a
    queue name with other characters, or a long one, is a digest instead."""
    wanted = sorted({label.strip().lower() for label in labels if label.strip()})
    if not wanted:
        return DEFAULT_QUEUE
    joined = "+".join(wanted)
    if len(joined) <= 80 and re.fullmatch(r"[a-z0-9._+-]+", joined):
        return f"{DEFAULT_QUEUE}.{joined}"
    return f"{DEFAULT_QUEUE}.{hashlib.sha256(joined.encode()).hexdigest()[:16]}"


def token_digest(token: str) -> str:
    """What the server keeps of a job token."""
    return hashlib.sha256(token.encode()).hexdigest()
