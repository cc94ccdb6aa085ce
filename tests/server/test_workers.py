"""The workers page, ``GET /api/workers``, and what the run page and the API's job object
say about dispatch: the worker that runs a job, and why a queued job waits."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from conveyor.server.dispatch.models import DispatchStatus, JobDispatch, Worker
from conveyor.server.dispatch.overview import worker_state
from conveyor.server.repos.models import Repository
from conveyor.server.runs.models import Job, Run, Status
from conveyor.server.ui.live_state import run_state
from tests.server.test_api_helpers import Api, Person, person

pytestmark = pytest.mark.django_db

NO_GPU = "no worker has labels gpu"


@pytest.fixture
def viewer() -> Person:
    return person("vera", "viewer")


@pytest.fixture
def browser_client(viewer: Person) -> Client:
    client = Client()
    client.force_login(viewer.user)
    return client


@pytest.fixture
def shop() -> Repository:
    return Repository.objects.create(name="shop", url="/nonexistent/shop.git")


def make_run(repository: Repository, number: int, status: str = Status.RUNNING) -> Run:
    return Run.objects.create(
        repository=repository,
        number=number,
        workflow_path=".github/workflows/ci.yml",
        workflow_name="CI",
        event="push",
        ref="refs/heads/main",
        sha=f"{number:040x}",
        status=status,
    )


def make_worker(name: str, seen_seconds_ago: float, **fields: Any) -> Worker:
    now = timezone.now()
    defaults: dict[str, Any] = {
        "labels": ["linux", "x64", "self-hosted"],
        "system": "Linux",
        "machine": "x86_64",
        "concurrency": 4,
        "version": "0.1.0",
        "started_at": now - timedelta(hours=1),
        "last_seen_at": now - timedelta(seconds=seen_seconds_ago),
    }
    defaults.update(fields)
    return Worker.objects.create(name=name, **defaults)


def dispatch(run: Run, job_key: str, status: str, worker: Worker | None = None, **fields: Any):
    return JobDispatch.objects.create(
        run=run,
        job_key=job_key,
        status=status,
        worker=worker,
        worker_name=worker.name if worker else "",
        token_hash="0" * 64,
        claimed_at=timezone.now() if worker else None,
        **fields,
    )


@pytest.fixture
def fleet(shop: Repository, settings: Any) -> dict[str, Any]:
    """Four workers, one of each state, and a run whose matrix job runs on one of them."""
    settings.CONVEYOR_WORKER_LOST_SECONDS = 30
    settings.CONVEYOR_BROKER_URL = "redis://127.0.0.1:6379/0"
    run = make_run(shop, 7)
    now = timezone.now()
    workers = {
        "online": make_worker("alpha@build-1", 1),
        "lost": make_worker("beta@build-2", 300, labels=["linux", "gpu"]),
        "stopped": make_worker(
            "gamma@build-3", 600, stopped_at=now - timedelta(seconds=601), concurrency=2
        ),
        "stopping": make_worker("delta@build-4", 2, stopped_at=now - timedelta(seconds=5)),
    }
    dispatch(run, "test (3.12)", DispatchStatus.RUNNING, workers["online"], attempt=2)
    dispatch(run, "test (3.11)", DispatchStatus.FINISHED, workers["stopped"])
    return {"run": run, "workers": workers}


def rows_of(html: str) -> dict[str, str]:
    """Each worker's table row (its HTML), by worker name."""
    return {
        match.group(1): match.group(0)
        for match in re.finditer(
            r'<tr class="worker [^"]*" data-worker="([^"]+)".*?</tr>', html, re.S
        )
    }


def test_the_page_shows_each_worker_its_state_labels_and_running_jobs(
    browser_client: Client, fleet: dict[str, Any]
) -> None:
    response = browser_client.get("/workers/")
    assert response.status_code == 200
    html = response.content.decode()
    rows = rows_of(html)
    assert list(rows) == ["alpha@build-1", "beta@build-2", "delta@build-4", "gamma@build-3"]
    for state, worker in fleet["workers"].items():
        assert f'data-state="{state}"' in rows[worker.name], (state, rows[worker.name])
    alpha = rows["alpha@build-1"]
    assert '<span class="chip">linux</span>' in alpha and '<span class="chip">x64</span>' in alpha
    assert "Linux / x86_64" in alpha
    assert "1 / 4" in alpha  # running / concurrency
    assert '<a href="/repos/shop/runs/7/">shop #7</a>' in alpha
    assert "test (3.12)" in alpha and "(attempt 2)" in alpha
    assert re.search(r"\d+ s ago|just now", alpha)
    # The finished job is not "running now" anywhere; the others are idle.
    assert "test (3.11)" not in html
    assert "idle" in rows["gamma@build-3"] and "idle" in rows["beta@build-2"]
    assert re.search(r">5\sminutes ago<", rows["beta@build-2"])  # Django's &nbsp;
    assert re.search(r">10\sminutes ago<", rows["gamma@build-3"])
    assert '<span class="chip">gpu</span>' in rows["beta@build-2"]
    assert "A worker not heard from for 30 s counts as lost" in html
    # It refreshes itself: htmx polls the list, and is loaded on this page.
    assert 'hx-get="/workers/"' in html and 'hx-trigger="every 3s"' in html
    assert "django_htmx/htmx" in html


def test_the_bound_comes_from_the_setting(
    browser_client: Client, fleet: dict[str, Any], settings: Any
) -> None:
    settings.CONVEYOR_WORKER_LOST_SECONDS = 900
    html = browser_client.get("/workers/").content.decode()
    rows = rows_of(html)
    assert 'data-state="online"' in rows["beta@build-2"]  # heard 300 s ago: within 900 s
    assert 'data-state="stopping"' in rows["gamma@build-3"]  # heard 600 s ago: within too
    assert "A worker not heard from for 900 s counts as lost" in html


def test_states_by_last_heartbeat_and_goodbye(settings: Any) -> None:
    settings.CONVEYOR_WORKER_LOST_SECONDS = 30
    now = timezone.now()

    def state(seen: float, stopped: float | None = None, started: float = 3600) -> str:
        worker = Worker(
            name="w",
            last_seen_at=now - timedelta(seconds=seen),
            started_at=now - timedelta(seconds=started),
            stopped_at=None if stopped is None else now - timedelta(seconds=stopped),
        )
        return worker_state(worker, now)

    assert state(0) == "online"
    assert state(30) == "online"  # the bound itself still counts as heard
    assert state(31) == "lost"
    assert state(1, stopped=10) == "stopping"
    assert state(31, stopped=40) == "stopped"
    # Started again after it said goodbye: a new process, judged by its heartbeats only.
    assert state(1, stopped=600, started=60) == "online"
    assert state(45, stopped=600, started=60) == "lost"


def test_the_poll_gets_the_list_only(browser_client: Client, fleet: dict[str, Any]) -> None:
    response = browser_client.get("/workers/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith('<div id="workers-live"') and "<html" not in html
    assert len(rows_of(html)) == 4


def test_embedded_mode_says_jobs_run_inside_the_server(browser_client: Client) -> None:
    html = browser_client.get("/workers/").content.decode()
    assert 'id="no-workers"' in html
    assert "Jobs run inside the server" in html
    assert "conveyor server --no-workers" in html
    assert '<a href="/workers/scale-out" id="scale-out-guide">' in html
    guide = browser_client.get("/workers/scale-out")
    assert guide.status_code == 200
    page = guide.content.decode()
    assert "CONVEYOR_WORKER_LOST_SECONDS" in page
    # Its links to the example files work from the page too.
    assert '<a href="deploy-examples/compose.yaml"' in page
    example = browser_client.get("/workers/deploy-examples/compose.yaml")
    assert example.status_code == 200 and example["Content-Type"].startswith("text/plain")
    assert b"worker-2:" in b"".join(example.streaming_content)
    assert browser_client.get("/workers/deploy-examples/..%2Fscale-out.md").status_code == 404
    assert browser_client.get("/workers/deploy-examples/missing.yaml").status_code == 404


def test_a_broker_without_workers_says_none_reported(browser_client: Client, settings: Any) -> None:
    settings.CONVEYOR_BROKER_URL = "redis://127.0.0.1:6379/0"
    html = browser_client.get("/workers/").content.decode()
    assert "No worker has reported yet" in html
    assert "Jobs run inside the server" not in html


def test_workers_left_from_scale_out_are_marked_as_not_used(
    browser_client: Client, settings: Any
) -> None:
    settings.CONVEYOR_BROKER_URL = ""
    make_worker("old@box", 5000)
    html = browser_client.get("/workers/").content.decode()
    assert 'id="workers-not-used"' in html and 'data-state="lost"' in html


def test_the_page_needs_a_login_and_is_in_the_navigation(
    browser_client: Client, fleet: dict[str, Any]
) -> None:
    anonymous = Client().get("/workers/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert Client().get("/workers").status_code == 301  # APPEND_SLASH
    dashboard = browser_client.get("/").content.decode()
    assert '<a href="/workers/">Workers</a>' in dashboard


# -- the API -------------------------------------------------------------------------


def test_the_api_lists_the_workers(viewer: Person, fleet: dict[str, Any]) -> None:
    response = Api(viewer).get("workers")
    assert response.status_code == 200
    body = {worker["name"]: worker for worker in response.json()}
    assert {name: worker["state"] for name, worker in body.items()} == {
        "alpha@build-1": "online",
        "beta@build-2": "lost",
        "delta@build-4": "stopping",
        "gamma@build-3": "stopped",
    }
    alpha = body["alpha@build-1"]
    assert alpha["labels"] == ["linux", "x64", "self-hosted"]
    assert (alpha["system"], alpha["machine"], alpha["concurrency"]) == ("Linux", "x86_64", 4)
    assert alpha["version"] == "0.1.0" and alpha["last_seen_at"] and alpha["stopped_at"] is None
    [running] = alpha["running"]
    assert running["repository"] == "shop" and running["run"] == 7
    assert running["job_key"] == "test (3.12)" and running["attempt"] == 2
    assert running["run_url"].endswith("/api/repositories/shop/runs/7")
    assert running["html_url"].endswith("/repos/shop/runs/7/")
    assert body["gamma@build-3"]["running"] == [] and body["gamma@build-3"]["stopped_at"]


def test_the_api_list_needs_a_user(fleet: dict[str, Any]) -> None:
    assert Api(Person(None, None)).get("workers").status_code == 401
    assert Api(Person(None, "cvy_not-a-token")).get("workers").status_code == 401


def test_the_api_list_is_empty_in_embedded_mode(viewer: Person) -> None:
    response = Api(viewer).get("workers")
    assert response.status_code == 200 and response.json() == []


# -- jobs: their worker, and why one waits --------------------------------------------


@pytest.fixture
def spread_run(shop: Repository, fleet: dict[str, Any]) -> Run:
    """A run whose jobs ran, run, and wait on different workers (or on none)."""
    run = make_run(shop, 8)
    alpha, beta = fleet["workers"]["online"], fleet["workers"]["lost"]
    Job.objects.create(run=run, job_key="build", job_id="build", status=Status.SUCCESS,
                       worker="alpha@build-1", order=0)  # fmt: skip
    Job.objects.create(run=run, job_key="lint", job_id="lint", status=Status.RUNNING, order=1)
    dispatch(run, "lint", DispatchStatus.RUNNING, beta)
    Job.objects.create(run=run, job_key="train", job_id="train", status=Status.QUEUED, order=2)
    dispatch(run, "train", DispatchStatus.LOST, alpha, reason="worker lost")
    dispatch(run, "train", DispatchStatus.QUEUED, attempt=2, reason=NO_GPU)
    # A matrix job not expanded yet: one row under its job id; its legs wait.
    Job.objects.create(run=run, job_key="test", job_id="test", status=Status.QUEUED, order=3)
    dispatch(run, "test (3.11)", DispatchStatus.QUEUED, reason="no worker has labels arm64")
    Job.objects.create(run=run, job_key="docs", job_id="docs", status=Status.QUEUED, order=4)
    dispatch(run, "docs", DispatchStatus.QUEUED)  # waits for a free worker: nothing to say
    return run


def test_the_api_job_names_its_worker_and_why_it_waits(viewer: Person, spread_run: Run) -> None:
    api = Api(viewer)
    jobs = {job["job_key"]: job for job in api.get("repositories/shop/runs/8/jobs").json()}
    assert jobs["build"]["worker"] == "alpha@build-1"  # the job's own record
    assert jobs["lint"]["worker"] == "beta@build-2"  # the worker that claimed it
    assert jobs["train"]["worker"] == "" and jobs["train"]["reason"] == NO_GPU
    assert jobs["test"]["reason"] == "no worker has labels arm64"
    assert jobs["docs"]["reason"] == "" and jobs["docs"]["worker"] == ""
    detail = api.get("repositories/shop/runs/8").json()
    assert [job["worker"] for job in detail["jobs"]][:2] == ["alpha@build-1", "beta@build-2"]
    one = api.get(f"repositories/shop/runs/8/jobs/{jobs['build']['id']}").json()
    assert one["worker"] == "alpha@build-1"


def test_the_run_page_shows_workers_and_why_a_job_waits(
    browser_client: Client, spread_run: Run
) -> None:
    html = browser_client.get("/repos/shop/runs/8/").content.decode()
    sections = {
        match.group(1): match.group(0)
        for match in re.finditer(r'<section class="job" id="job-\d+" data-job="\d+">\s*'
                                 r'<h3 class="job-title">.*?job-name">([^<]+)<.*?</h3>.*?'
                                 r"(?=<section class=\"job\"|</div>)", html, re.S)
    }  # fmt: skip
    assert 'job-worker">on alpha@build-1</span>' in sections["build"]
    assert 'job-worker">on beta@build-2</span>' in sections["lint"]
    assert f'<p class="muted small job-reason">{NO_GPU}</p>' in sections["train"]
    assert "no worker has labels arm64" in sections["test"]
    assert "job-reason" not in sections["docs"]
    assert 'class="muted small job-worker" hidden' in sections["docs"]


def test_the_live_state_carries_worker_and_reason(spread_run: Run) -> None:
    jobs = {job["name"]: job for job in run_state(spread_run)["jobs"]}
    assert jobs["build"]["worker"] == "alpha@build-1"
    assert jobs["lint"]["worker"] == "beta@build-2"
    assert jobs["train"]["reason"] == NO_GPU
    # Once a worker takes it, the reason goes: only a queued job says why it waits.
    JobDispatch.objects.filter(run=spread_run, job_key="train", attempt=2).update(
        status=DispatchStatus.RUNNING, worker_name="alpha@build-1"
    )
    Job.objects.filter(run=spread_run, job_key="train").update(status=Status.RUNNING)
    jobs = {job["name"]: job for job in run_state(spread_run)["jobs"]}
    assert jobs["train"]["reason"] == "" and jobs["train"]["worker"] == "alpha@build-1"


def test_viewers_only(fleet: dict[str, Any]) -> None:
    User.objects.create_user("nobody", is_active=False)
    inactive = Client()
    inactive.force_login(User.objects.get(username="nobody"))
    assert inactive.get("/workers/").status_code in (302, 403)
