"""The server's side of job dispatch to workers: the Celery message on a real Redis,
the worker API over real HTTP (a test acts as the worker), the launcher blocking in
the run's coordinator, label routing, and lost workers."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from conveyor.engine import events as ev
from conveyor.server.dispatch import lost, protocol
from conveyor.server.dispatch.models import DispatchStatus, JobDispatch
from conveyor.server.runs.execute import cancel_all_in_process
from conveyor.server.runs.models import Job, LogChunk, Run
from tests.server.conftest import git, wait_for
from tests.server.worker_support import (
    BROKER_URL,
    WORKER_TOKEN,
    Coordinator,
    FakeWorker,
    job_events,
    next_message,
    redis_client,
    unique_label,
)

pytestmark = pytest.mark.django_db(transaction=True)


def workflow(label: str, env: str = "") -> str:
    return (
        "on: push\njobs:\n  build:\n"
        f"    runs-on: [self-hosted, {label}]\n{env}"
        "    steps:\n      - name: Build\n        run: echo built\n"
    )


@pytest.fixture
def broker(settings: Any, live_server: Any, data_dir: Path) -> Any:
    settings.CONVEYOR_BROKER_URL = BROKER_URL
    settings.CONVEYOR_WORKER_TOKEN = WORKER_TOKEN
    settings.CONVEYOR_URL = live_server.url
    yield redis_client()
    # A test that failed half-way leaves no run coordinating behind it.
    cancel_all_in_process()
    Coordinator.join_all()


def start_run(repository: Any, git_project: Any, text: str) -> Run:
    git_project.commit({".conveyor.yml": text})
    _, sha = git_project.push()
    return Run.objects.create(
        repository=repository,
        number=Run.objects.filter(repository=repository).count() + 1,
        workflow_path=".conveyor.yml",
        event="push",
        ref="refs/heads/main",
        sha=sha,
    )


def run_page(run: Run) -> str:
    from django.contrib.auth import get_user_model
    from django.test import Client

    users = get_user_model()
    admin = users.objects.filter(username="boss").first() or users.objects.create_superuser(
        "boss", password="a-password-123"
    )
    client = Client()
    client.force_login(admin)
    page = client.get(f"/repos/{run.repository.name}/runs/{run.number}/")
    assert page.status_code == 200
    return page.content.decode()


def test_a_job_goes_to_a_worker_and_its_events_and_outcome_come_back(
    broker, live_server, repository, git_project, tmp_path
):
    label = unique_label()
    worker = FakeWorker(live_server.url, labels=[label])
    worker.heartbeat()
    run = start_run(repository, git_project, workflow(label))
    coordinator = Coordinator(run.pk)
    message = next_message(broker, protocol.queue_for(["self-hosted", label]))
    assert message.task == protocol.RUN_JOB_TASK
    dispatch = JobDispatch.objects.get(pk=message.dispatch_id)
    assert dispatch.token_hash == protocol.token_digest(message.token)
    assert message.token not in str(JobDispatch.objects.filter(pk=dispatch.pk).values().first())

    # Wrong tokens are refused before anything else.
    assert (
        worker.call(
            protocol.job_path(dispatch.pk, "claim"), {"worker": "x"}, message.token, token="wrong"
        )[0]
        == 401
    )
    assert worker.call(protocol.job_path(dispatch.pk, "claim"), {"worker": "x"}, "wrong")[0] == 403
    assert worker.call(protocol.HEARTBEAT_PATH, {"name": "x"}, token="")[0] == 401

    status, claimed = worker.claim(message)
    assert status == 200, claimed
    assert claimed["repository"] == "shop"
    plan = claimed["plan"]
    assert plan["job_key"] == "build" and plan["labels"] == ["self-hosted", label]
    assert worker.heartbeat(running=[dispatch.pk]) == {
        "queues": sorted([protocol.DEFAULT_QUEUE, message.queue]),
        "cancel": [],
    }

    # The job's repository, fetched with real git over the worker API.
    fetched = tmp_path / "fetched"
    git("init", "-q", str(fetched), cwd=tmp_path)
    auth = [
        "-c", f"http.extraHeader=Authorization: Bearer {WORKER_TOKEN}",
        "-c", f"http.extraHeader={protocol.JOB_TOKEN_HEADER}: {message.token}",
    ]  # fmt: skip
    git(*auth, "fetch", "-q", "--depth=1", claimed["git_url"], run.sha, cwd=fetched)
    assert git("rev-parse", "FETCH_HEAD", cwd=fetched).strip() == run.sha
    refused = subprocess.run(
        ["git", "push", claimed["git_url"], "HEAD:refs/heads/evil"],
        cwd=git_project.work, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "GIT_TERMINAL_PROMPT": "0"},
    )  # fmt: skip
    assert refused.returncode != 0

    first, last, outcome = job_events(plan, "built\nline two")
    assert worker.events(message, 1, first) == (200, {"cancel": False})
    assert worker.events(message, 1, first) == (200, {"cancel": False})  # a resend: ignored
    assert worker.events(message, 2, []) == (200, {"cancel": False})  # a heartbeat
    assert worker.finish(message, 3, last, outcome) == (200, {})
    assert worker.finish(message, 3, last, outcome) == (200, {})  # idempotent

    assert coordinator.join() == "success"
    run.refresh_from_db()
    assert run.status == "success", run.reason
    job = Job.objects.get(run=run, job_key="build")
    assert (job.status, job.worker) == ("success", worker.name)
    lines = [chunk.text for chunk in LogChunk.objects.filter(step__job=job).order_by("seq")]
    assert lines == ["built\nline two"]
    dispatch.refresh_from_db()
    assert dispatch.status == DispatchStatus.FINISHED
    assert dispatch.outcome["raw_outputs"] == {"built": "yes"}
    # The attempt is over: nothing more is taken.
    assert worker.events(message, 4, [])[0] == 409
    assert worker.claim(message)[0] == 409


def test_two_deliveries_of_one_job_claim_it_once(broker, live_server, repository, git_project):
    label = unique_label()
    run = start_run(repository, git_project, workflow(label))
    coordinator = Coordinator(run.pk)
    message = next_message(broker, protocol.queue_for(["self-hosted", label]))
    workers = [FakeWorker(live_server.url, labels=[label]) for _ in range(2)]
    answers: list[tuple[int, Any]] = []
    barrier = threading.Barrier(2)

    def claim(worker: FakeWorker) -> None:
        barrier.wait()
        answers.append(worker.claim(message))

    threads = [threading.Thread(target=claim, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in answers) == [200, 409]
    winner = next(w for w, (s, _) in zip(workers, answers, strict=True) if s == 200)
    [refusal] = [answer for status, answer in answers if status == 409]
    assert "claimed by" in refusal["detail"]
    plan = next(answer for status, answer in answers if status == 200)["plan"]
    first, last, outcome = job_events(plan, "once")
    status, _ = winner.finish(message, 1, first + last, outcome)
    assert status == 200
    assert coordinator.join() == "success"


def test_a_job_no_worker_can_take_says_so_and_runs_when_one_comes(
    broker, live_server, repository, git_project
):
    label = unique_label()
    run = start_run(repository, git_project, workflow(label))
    coordinator = Coordinator(run.pk)
    message = next_message(broker, protocol.queue_for(["self-hosted", label]))
    job = wait_for(
        lambda: Job.objects.filter(run=run, job_key="build", status="waiting").first(),
        what="the job to say it waits",
    )
    assert job.reason.startswith(f"no worker has labels self-hosted, {label}"), job.reason
    page = run_page(run)
    assert job.reason in page and "waiting" in page
    worker = FakeWorker(live_server.url, labels=[label])
    assert message.queue in worker.heartbeat()["queues"]
    lost.refresh_waiting()
    wanted = f"waiting for a worker to take it ({worker.name})"
    wait_for(lambda: Job.objects.get(pk=job.pk).reason == wanted, what="the new reason")
    status, claimed = worker.claim(message)
    assert status == 200
    first, last, outcome = job_events(claimed["plan"], "at last")
    assert worker.finish(message, 1, first + last, outcome)[0] == 200
    assert coordinator.join() == "success"
    job.refresh_from_db()
    assert (job.status, job.reason) == ("success", "")


def test_a_lost_worker_fails_its_job_and_keeps_its_log(
    broker, live_server, repository, git_project, settings
):
    settings.CONVEYOR_WORKER_LOST_SECONDS = 1
    label = unique_label()
    worker = FakeWorker(live_server.url, labels=[label])
    run = start_run(repository, git_project, workflow(label))
    coordinator = Coordinator(run.pk)
    message = next_message(broker, protocol.queue_for(["self-hosted", label]))
    status, claimed = worker.claim(message)
    assert status == 200
    first, _, _ = job_events(claimed["plan"], "the last line")
    assert worker.events(message, 1, first)[0] == 200
    # The worker dies: no more heartbeats; the watch finds it once the bound has passed.
    wait_for(lambda: lost.mark_lost(), what="the worker to be found lost")
    assert coordinator.join() == "failure"
    job = Job.objects.get(run=run, job_key="build")
    assert job.status == "failure"
    assert job.reason.startswith(f"worker lost: {worker.name} last heard from "), job.reason
    step = job.steps.get(index=0)
    assert step.status == "failure"
    assert [chunk.text for chunk in LogChunk.objects.filter(step=step)] == ["the last line"]
    # The lost attempt's later calls are turned away.
    status, answer = worker.events(message, 2, [])
    assert status == 409 and "lost" in answer["detail"]
    assert worker.heartbeat(running=[message.dispatch_id])["cancel"] == [message.dispatch_id]


def test_a_job_safe_to_retry_is_sent_again_when_its_worker_is_lost(
    broker, live_server, repository, git_project, settings
):
    settings.CONVEYOR_WORKER_LOST_SECONDS = 1
    label = unique_label()
    env = "    env:\n      CONVEYOR_RETRY_ON_WORKER_LOST: 'true'\n"
    run = start_run(repository, git_project, workflow(label, env))
    coordinator = Coordinator(run.pk)
    queue = protocol.queue_for(["self-hosted", label])
    first_message = next_message(broker, queue)
    dying, taking_over = (FakeWorker(live_server.url, labels=[label]) for _ in range(2))
    assert dying.claim(first_message)[0] == 200
    wait_for(lambda: lost.mark_lost(), what="the worker to be found lost")
    second_message = next_message(broker, queue)
    second = JobDispatch.objects.get(pk=second_message.dispatch_id)
    assert (second.job_key, second.attempt) == ("build", 2)
    status, claimed = taking_over.claim(second_message)
    assert status == 200
    first, last, outcome = job_events(claimed["plan"], "second time")
    assert taking_over.finish(second_message, 1, first + last, outcome)[0] == 200
    assert coordinator.join() == "success"
    assert Job.objects.get(run=run, job_key="build").worker == taking_over.name
    # The first attempt's token is worth nothing now.
    assert dying.events(first_message, 1, [])[0] == 409


def test_a_job_cancelled_while_queued_ends_at_once(broker, live_server, repository, git_project):
    from conveyor.server.runs import services

    label = unique_label()
    run = start_run(repository, git_project, workflow(label))
    coordinator = Coordinator(run.pk)
    message = next_message(broker, protocol.queue_for(["self-hosted", label]))
    wait_for(lambda: Run.objects.get(pk=run.pk).status == "running", what="the run to start")
    services.cancel(Run.objects.get(pk=run.pk))
    assert coordinator.join() == "cancelled"
    assert JobDispatch.objects.get(pk=message.dispatch_id).status == DispatchStatus.CANCELLED
    assert Job.objects.get(run=run, job_key="build").status == "cancelled"
    worker = FakeWorker(live_server.url, labels=[label])
    status, answer = worker.claim(message)
    assert status == 409 and "cancelled" in answer["detail"]


def test_a_running_job_is_told_to_cancel(broker, live_server, repository, git_project):
    from conveyor.server.runs import services

    label = unique_label()
    run = start_run(repository, git_project, workflow(label))
    coordinator = Coordinator(run.pk)
    message = next_message(broker, protocol.queue_for(["self-hosted", label]))
    worker = FakeWorker(live_server.url, labels=[label])
    status, claimed = worker.claim(message)
    assert status == 200
    services.cancel(Run.objects.get(pk=run.pk))
    wait_for(lambda: worker.events(message, 1, [])[1]["cancel"], what="the cancel answer")
    assert worker.heartbeat(running=[message.dispatch_id])["cancel"] == [message.dispatch_id]
    first, last, outcome = job_events(claimed["plan"], "stopping", ev.Status.CANCELLED)
    assert worker.finish(message, 2, first + last, outcome)[0] == 200
    assert coordinator.join() == "cancelled"


def test_calls_about_a_run_with_no_coordinator_here_are_asked_again_later(
    broker, live_server, repository, git_project
):
    run = start_run(repository, git_project, workflow("anything"))
    token = "a-token"
    dispatch = JobDispatch.objects.create(
        run=run, job_key="build", token_hash=protocol.token_digest(token)
    )
    worker = FakeWorker(live_server.url)
    import requests

    response = requests.post(
        live_server.url + protocol.job_path(dispatch.pk, "claim"),
        json={"worker": worker.name},
        headers={"Authorization": f"Bearer {WORKER_TOKEN}", protocol.JOB_TOKEN_HEADER: token},
        timeout=10,
    )
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert JobDispatch.objects.get(pk=dispatch.pk).status == DispatchStatus.QUEUED
    assert (
        worker.call(protocol.job_path(dispatch.pk + 1000, "claim"), {"worker": "w"}, token)[0]
        == 404
    )


def test_git_serves_only_the_jobs_own_repository(
    broker, live_server, repository, git_project, tmp_path
):
    from conveyor.server.repos.models import Repository
    from tests.server.conftest import new_git_project

    (tmp_path / "other").mkdir()
    other_project = new_git_project(tmp_path / "other")
    other_project.commit({"secret.txt": "not yours"})
    other_project.push()
    other = Repository.objects.create(name="other", url=str(other_project.bare))
    label = unique_label()
    mine = start_run(repository, git_project, workflow(label))
    theirs = start_run(other, other_project, workflow(label))
    coordinators = [Coordinator(mine.pk), Coordinator(theirs.pk)]
    queue = protocol.queue_for(["self-hosted", label])
    messages = [next_message(broker, queue), next_message(broker, queue)]
    worker = FakeWorker(live_server.url, labels=[label])
    claims = {}
    for message in messages:
        status, claimed = worker.claim(message)
        assert status == 200
        claims[claimed["repository"]] = (message, claimed)
    my_message, _ = claims["shop"]
    _, their_claim = claims["other"]
    fetched = tmp_path / "fetched"
    git("init", "-q", str(fetched), cwd=tmp_path)
    auth = [
        "-c", f"http.extraHeader=Authorization: Bearer {WORKER_TOKEN}",
        "-c", f"http.extraHeader={protocol.JOB_TOKEN_HEADER}: {my_message.token}",
    ]  # fmt: skip
    refused = subprocess.run(
        ["git", *auth, "fetch", their_claim["git_url"], theirs.sha],
        cwd=fetched, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "GIT_TERMINAL_PROMPT": "0"},
    )  # fmt: skip
    assert refused.returncode != 0
    assert "403" in refused.stderr
    status, answer = worker.call(
        protocol.job_path(my_message.dispatch_id, "git/info/refs?service=git-receive-pack"),
        job_token=my_message.token,
        method="GET",
    )
    assert status == 403 and "upload-pack" in answer["detail"]
    for message, claimed in claims.values():
        first, last, outcome = job_events(claimed["plan"], "done")
        assert worker.finish(message, 1, first + last, outcome)[0] == 200
    assert [coordinator.join() for coordinator in coordinators] == ["success", "success"]


def test_artifacts_are_kept_with_the_run_and_paths_that_leave_are_refused(
    broker, live_server, repository, git_project
):
    from conveyor.server.runs import artifacts

    label = unique_label()
    run = start_run(repository, git_project, workflow(label))
    coordinator = Coordinator(run.pk)
    message = next_message(broker, protocol.queue_for(["self-hosted", label]))
    worker = FakeWorker(live_server.url, labels=[label])
    status, claimed = worker.claim(message)
    assert status == 200
    import requests

    headers = {"Authorization": f"Bearer {WORKER_TOKEN}", protocol.JOB_TOKEN_HEADER: message.token}
    base = live_server.url + protocol.job_path(message.dispatch_id, "artifacts")
    stored = requests.put(f"{base}/report/artifact.tar.gz", data=b"archive", headers=headers)
    assert stored.status_code == 201
    root = Path(artifacts.run_artifacts_dir(run.pk))
    assert (root / "report" / "artifact.tar.gz").read_bytes() == b"archive"
    # Each worker numbers its job's artifacts from 1: the run's store numbers them anew.
    for name in ("report", "other", "report"):
        metadata = {"id": 1, "size": 7, "digest": "d", "files": 1, "job_key": "build",
                    "created_at": 1.0, "expires_at": None}  # fmt: skip
        answer = requests.put(f"{base}/{name}/artifact.json", json=metadata, headers=headers)
        assert answer.status_code == 201
    ids = {name: json.loads((root / name / "artifact.json").read_text())["id"]
           for name in ("report", "other")}  # fmt: skip
    assert ids == {"report": 1, "other": 2}
    assert [a.id for a in artifacts.store_of(run.pk).list()] == [1, 2]
    assert requests.put(f"{base}/:ids", data=b"1", headers=headers).json() == {"stored": False}
    for bad in ("..%2Fescape", "report/..%2F..%2Fescape", "%2Fetc%2Fpasswd"):
        answer = requests.put(f"{base}/{bad}", data=b"x", headers=headers)
        assert answer.status_code in (400, 404), (bad, answer.status_code)
    assert not (root.parent / "escape").exists()
    first, last, outcome = job_events(claimed["plan"], "done")
    assert worker.finish(message, 1, first + last, outcome)[0] == 200
    assert coordinator.join() == "success"


def test_a_workers_job_passes_the_environment_gate_on_the_server(
    broker, live_server, repository, git_project
):
    from conveyor.server.repos.models import Environment, EnvironmentVariable
    from conveyor.server.runs.environments import approve_deployment
    from conveyor.server.runs.models import Deployment

    production = Environment.objects.create(
        repository=repository, name="production", required_approval=True
    )
    EnvironmentVariable.objects.create(environment=production, name="REGION", value="eu")
    label = unique_label()
    run = start_run(repository, git_project, workflow(label, "    environment: production\n"))
    coordinator = Coordinator(run.pk)
    message = next_message(broker, protocol.queue_for(["self-hosted", label]))
    worker = FakeWorker(live_server.url, labels=[label])
    status, claimed = worker.claim(message)
    assert status == 200
    ask = protocol.job_path(message.dispatch_id, "environment")
    body = {"name": "production", "url": "https://shop.example/"}
    status, answer = worker.call(ask, body, message.token)
    assert status == 202
    assert answer["waiting"] == "waiting for a member to approve the deployment to 'production'"
    job = wait_for(
        lambda: Job.objects.filter(run=run, job_key="build", status="waiting").first(),
        what="the job to show it waits for approval",
    )
    assert "approve" in job.reason
    approve_deployment(Deployment.objects.get(run=run), by="admin")
    status, answer = wait_for(
        lambda: (lambda a: a if a[0] != 202 else None)(worker.call(ask, body, message.token)),
        what="the gate to open",
    )
    assert (status, answer) == (200, {"secrets": {}, "variables": {"REGION": "eu"}})
    release = protocol.job_path(message.dispatch_id, "environment/release")
    assert worker.call(release, {"status": "success", "url": ""}, message.token) == (200, {})
    assert Deployment.objects.get(run=run).status == "success"
    first, last, outcome = job_events(claimed["plan"], "deployed")
    assert worker.finish(message, 1, first + last, outcome)[0] == 200
    assert coordinator.join() == "success"


def test_a_job_the_server_runs_itself_names_the_server(repository, git_project, workers):
    from conveyor.server.dispatch.launcher import server_worker_name
    from conveyor.server.runs import services
    from tests.server.conftest import wait_for_run_end

    git_project.commit({".conveyor.yml": "on: push\nsteps:\n  - run: echo here\n"})
    _, sha = git_project.push()
    [run] = services.create_runs_for_event(repository, event="push", ref="refs/heads/main", sha=sha)
    run = wait_for_run_end(run)
    assert run.status == "success", run.reason
    assert [job.worker for job in run.jobs.all()] == [server_worker_name()]


def test_matrix_legs_waiting_for_a_worker_each_say_so(broker, live_server, repository, git_project):
    label = unique_label()
    text = (
        "on: push\njobs:\n  test:\n    strategy:\n      matrix:\n        python: ['3.11', '3.12']\n"
        f"    runs-on: [self-hosted, {label}]\n"
        "    steps:\n      - name: Build\n        run: echo built\n"
    )
    run = start_run(repository, git_project, text)
    coordinator = Coordinator(run.pk)
    queue = protocol.queue_for(["self-hosted", label])
    messages = [next_message(broker, queue), next_message(broker, queue)]

    def both_waiting() -> Any:
        jobs = list(Job.objects.filter(run=run, status="waiting").order_by("job_key"))
        return jobs if len(jobs) == 2 else None

    jobs = wait_for(both_waiting, what="both legs to say they wait")
    assert [job.job_key for job in jobs] == ["test (3.11)", "test (3.12)"]
    assert all(job.reason.startswith("no worker has labels") for job in jobs)
    workers = [FakeWorker(live_server.url, labels=[label]) for _ in messages]
    for worker, message in zip(workers, messages, strict=True):
        status, claimed = worker.claim(message)
        assert status == 200
        first, last, outcome = job_events(claimed["plan"], claimed["plan"]["job_key"])
        assert worker.finish(message, 1, first + last, outcome)[0] == 200
    assert coordinator.join() == "success"
    ran_by = dict(Job.objects.filter(run=run).values_list("job_key", "worker"))
    assert sorted(ran_by.values()) == sorted(worker.name for worker in workers)
    assert len(ran_by) == 2
