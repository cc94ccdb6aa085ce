"""The REST API through Django's test client, with real models and a cast of users."""

from __future__ import annotations

import base64
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from conveyor.engine import events as ev
from conveyor.engine.pipeline_status import PipelineTracker
from conveyor.server.accounts.models import ApiToken, hash_token
from conveyor.server.repos.models import Repository, Secret
from conveyor.server.runs.models import Annotation, Job, LogChunk, Run, Status, Step
from conveyor.workflow.load import parse_workflow
from tests.server.conftest import SEED_WORKFLOW, GitProject
from tests.server.test_api_helpers import Api, Person, cast
from tests.server.test_runs_execution import MATRIX_WORKFLOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> dict[str, Person]:
    return cast()


@pytest.fixture
def shop() -> Repository:
    return Repository.objects.create(name="shop", url="/nonexistent/shop.git")


def make_run(repository: Repository, number: int, **fields: Any) -> Run:
    defaults: dict[str, Any] = {
        "workflow_path": ".github/workflows/ci.yml",
        "workflow_name": "CI",
        "event": "push",
        "ref": "refs/heads/main",
        "sha": f"{number:040x}",
        "status": Status.SUCCESS,
    }
    defaults.update(fields)
    return Run.objects.create(repository=repository, number=number, **defaults)


def record_execution(run: Run, workflow_text: str, events: list[ev.Event]) -> None:
    """Store what the engine's tracker makes of ``events``, as the DatabaseSink does."""
    tracker = PipelineTracker(parse_workflow(workflow_text, run.workflow_path))
    for event in events:
        tracker.emit(event)
    run.execution = tracker.snapshot()
    run.pipeline_status = tracker.pipeline_status
    run.save(update_fields=["execution", "pipeline_status"])


def finished_run_with_logs(repository: Repository, number: int = 1) -> Run:
    """A finished seed-like run: one job, Build/Test/Deploy, the test step failing."""
    now = timezone.now()
    run = make_run(
        repository,
        number,
        status=Status.FAILURE,
        reason="job build failed",
        pipeline_status="Test failed",
        started_at=now - timedelta(seconds=9),
        finished_at=now,
    )
    job = Job.objects.create(
        run=run,
        job_key="build",
        job_id="build",
        name="build",
        status=Status.FAILURE,
        started_at=now - timedelta(seconds=8),
        finished_at=now,
    )
    results = [
        ("Build", Status.SUCCESS, 0),
        ("Test", Status.FAILURE, 1),
        ("Deploy", Status.SKIPPED, None),
    ]
    for index, (name, status, code) in enumerate(results):
        step = Step.objects.create(
            job=job,
            index=index,
            name=name,
            command=f'echo "{name}ing..."',
            status=status,
            exit_code=code,
            started_at=now - timedelta(seconds=5) if code is not None else None,
            finished_at=now if code is not None else None,
        )
        if code is not None:
            LogChunk.objects.create(
                step=step, seq=0, first_line=1, line_count=2, text=f"{name} line 1\n{name} line 2"
            )
            LogChunk.objects.create(
                step=step, seq=1, first_line=3, line_count=1, text=f"{name} line 3"
            )
    Annotation.objects.create(
        step=job.steps.get(index=1), level="error", message="2 tests failed", file="t.py", line=3
    )
    events: list[ev.Event] = [ev.JobStarted("build", "build", "build")]
    for index, (name, status, code) in enumerate(results):
        if code is not None:
            events.append(ev.StepStarted("build", index, name, f'echo "{name}ing..."'))
            events.append(ev.LogLines("build", index, f"{name} line 1\n{name} line 2"))
            events.append(ev.LogLines("build", index, f"{name} line 3"))
        duration = 5.0 if code is not None else 0.0
        conclusion = ev.Status(status)
        events.append(ev.StepFinished("build", index, name, conclusion, conclusion, duration, code))
    events.append(ev.JobFinished("build", "build", ev.Status.FAILURE, 8.0))
    events.append(ev.RunFinished(ev.Status.FAILURE, 9.0, "job build failed"))
    record_execution(run, SEED_WORKFLOW, events)
    return run


# -- authentication ----------------------------------------------------------------------


def test_no_credentials_is_401_with_a_hint(people: dict[str, Person]) -> None:
    response = Api(people["anonymous"]).get("repositories")
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_unknown_token_is_401_and_does_not_fall_back_to_the_session(
    people: dict[str, Person],
) -> None:
    client = Client()
    client.force_login(people["admin"].user)
    response = client.get("/api/repositories", headers={"Authorization": "Bearer cvy_nope"})
    assert response.status_code == 401
    assert response.json()["detail"] == "the API token is invalid or was revoked"
    assert client.get("/api/repositories").status_code == 200  # the session alone works


def test_token_is_stored_hashed_and_last_use_recorded(people: dict[str, Person]) -> None:
    viewer = people["viewer"]
    token = ApiToken.objects.get(user=viewer.user)
    assert token.token_hash == hash_token(viewer.token)
    assert viewer.token not in (token.token_hash, token.prefix, token.name)
    assert token.last_used_at is None
    assert Api(viewer).get("me").json() == {
        "username": "vera",
        "role": "viewer",
        "can_trigger": False,
        "can_admin": False,
    }
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_revoked_token_stops_working_at_once(people: dict[str, Person]) -> None:
    member = people["member"]
    api = Api(member)
    assert api.get("me").status_code == 200
    token_id = api.get("tokens").json()[0]["id"]
    assert api.delete(f"tokens/{token_id}").status_code == 204
    response = api.get("me")
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_a_user_cannot_revoke_someone_elses_token_but_an_admin_can(
    people: dict[str, Person],
) -> None:
    viewer_token = ApiToken.objects.get(user=people["viewer"].user)
    assert Api(people["member"]).delete(f"tokens/{viewer_token.pk}").status_code == 404
    assert Api(people["viewer"]).get("me").status_code == 200
    assert Api(people["admin"]).delete(f"tokens/{viewer_token.pk}").status_code == 204
    assert Api(people["viewer"]).get("me").status_code == 401


def test_inactive_users_tokens_are_refused(people: dict[str, Person]) -> None:
    member = people["member"]
    member.user.is_active = False
    member.user.save()
    assert Api(member).get("me").status_code == 401


def test_issue_a_token_with_a_password_shown_once(people: dict[str, Person], settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = people["member"].user
    user.set_password("s3cret-pass")
    user.save()
    basic = base64.b64encode(b"max:s3cret-pass").decode()
    response = Client().post(
        "/api/tokens",
        {"name": "deploy script"},
        content_type="application/json",
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["token"].startswith("cvy_") and body["name"] == "deploy script"
    assert body["user"] == "max"
    new = Person(user, body["token"])
    assert Api(new).get("me").json()["role"] == "member"
    listed = Api(new).get("tokens").json()
    assert {token["name"] for token in listed} == {"deploy script", "max's token"}
    assert all("token" not in token for token in listed)  # never shown again
    assert body["token"] not in Api(new).get("tokens").content.decode()


def test_wrong_password_and_tokens_cannot_issue_tokens(
    people: dict[str, Person], settings: Any
) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    basic = base64.b64encode(b"max:wrong").decode()
    response = Client().post(
        "/api/tokens",
        {"name": "x"},
        content_type="application/json",
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong username or password"
    by_token = Api(people["admin"]).post("tokens", {"name": "more"})
    assert by_token.status_code == 401
    assert "an API token cannot issue tokens" in by_token.json()["detail"]
    assert ApiToken.objects.filter(name__in=["x", "more"]).count() == 0


def test_session_issues_tokens_only_with_csrf(people: dict[str, Person]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["viewer"].user)
    refused = client.post("/api/tokens", {"name": "laptop"}, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    client.get("/api/me")  # any response may set the cookie; fetch one the Django way
    from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret

    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret
    accepted = client.post(
        "/api/tokens",
        {"name": "laptop"},
        content_type="application/json",
        headers={"X-CSRFToken": _mask_cipher_secret(secret)},
    )
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["token"].startswith("cvy_")


def test_token_name_is_required(people: dict[str, Person]) -> None:
    client = Client()
    client.force_login(people["viewer"].user)
    response = client.post("/api/tokens", {"name": "  "}, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "name: must not be empty: say what the token is for",
        "field": "name",
    }
    missing = client.post("/api/tokens", {}, content_type="application/json")
    assert missing.status_code == 400
    assert missing.json()["field"] == "name"
    broken = client.post("/api/tokens", "{not json", content_type="application/json")
    assert broken.status_code == 400
    assert "JSON" in broken.json()["detail"]


# -- roles ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "role", "can_trigger", "can_admin"),
    [
        ("admin", "admin", True, True),
        ("superuser", "admin", True, True),
        ("member", "member", True, False),
        ("viewer", "viewer", False, False),
        ("outsider", "viewer", False, False),
    ],
)
def test_me_reports_the_role(
    people: dict[str, Person], who: str, role: str, can_trigger: bool, can_admin: bool
) -> None:
    body = Api(people[who]).get("me").json()
    assert (body["role"], body["can_trigger"], body["can_admin"]) == (role, can_trigger, can_admin)


# -- repositories -----------------------------------------------------------------------


def test_repositories_list_and_get(people: dict[str, Person], shop: Repository) -> None:
    Repository.objects.create(name="api", url="https://example.com/api.git")
    make_run(shop, 1)
    make_run(shop, 2, status=Status.FAILURE)
    api = Api(people["viewer"])
    listed = api.get("repositories").json()
    assert [repo["name"] for repo in listed] == ["api", "shop"]
    assert listed[0]["last_run"] is None
    assert listed[1]["last_run"]["number"] == 2
    assert listed[1]["last_run"]["status"] == "failure"
    one = api.get("repositories/shop").json()
    assert one["default_branch"] == "main"
    assert one["html_url"].endswith("/repos/shop/")
    assert "webhook_secret" not in one
    missing = api.get("repositories/nope")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no repository named 'nope'"


@pytest.mark.parametrize(
    ("who", "status"),
    [("admin", 201), ("superuser", 201), ("member", 403), ("viewer", 403), ("anonymous", 401)],
)
def test_only_admins_add_repositories(
    people: dict[str, Person], git_project: GitProject, who: str, status: int
) -> None:
    response = Api(people[who]).post("repositories", {"name": "web", "url": str(git_project.bare)})
    assert response.status_code == status, response.content
    assert Repository.objects.filter(name="web").exists() == (status == 201)
    if status == 403:
        assert response.json()["detail"] == f"this needs the role admin; your role is {who}"


def test_adding_a_local_repository_installs_its_push_hook(
    people: dict[str, Person], git_project: GitProject
) -> None:
    git_project.commit({"README": "hi"}, "First")
    git_project.push("trunk")
    subprocess.run(
        ["git", "--git-dir", str(git_project.bare), "symbolic-ref", "HEAD", "refs/heads/trunk"],
        check=True,
    )
    response = Api(people["admin"]).post(
        "repositories", {"name": "web", "url": str(git_project.bare)}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    repository = Repository.objects.get(name="web")
    assert body["default_branch"] == "trunk" == repository.default_branch
    assert body["poll_interval"] is None  # the hook reports pushes
    assert body["webhook_secret"] == repository.webhook_secret
    assert body["webhook_urls"]["github"].endswith("/hooks/github/web")
    hook = git_project.bare / "hooks" / "post-receive"
    assert hook.exists() and "/hooks/local/web" in hook.read_text()
    # Shown when it is made; afterwards the repository reads back without it.
    assert "webhook_secret" not in Api(people["admin"]).get("repositories/web").json()


def test_adding_a_remote_polls_it_by_default(
    people: dict[str, Person], git_project: GitProject
) -> None:
    git_project.commit({"README": "hi"}, "First")
    git_project.push()
    url = f"file://{git_project.bare}"
    body = Api(people["admin"]).post("repositories", {"name": "far", "url": url}).json()
    assert (body["url"], body["poll_interval"], body["default_branch"]) == (url, 60, "main")
    assert not (git_project.bare / "hooks" / "post-receive").exists()


def test_a_repository_that_cannot_be_added_says_why(
    people: dict[str, Person], git_project: GitProject, tmp_path: Path
) -> None:
    api = Api(people["admin"])
    missing = api.post("repositories", {"name": "web", "url": str(tmp_path / "nowhere.git")})
    assert missing.status_code == 400
    assert missing.json() == {
        "detail": f"url: {tmp_path / 'nowhere.git'}: no such directory",
        "field": "url",
    }
    working_tree = api.post("repositories", {"name": "web", "url": str(git_project.work)})
    assert working_tree.status_code == 400
    assert "is a working tree, not a bare repository" in working_tree.json()["detail"]
    unreachable = api.post("repositories", {"name": "web", "url": f"file://{tmp_path}/no.git"})
    assert unreachable.status_code == 400
    assert unreachable.json()["detail"].startswith("url: cannot add web: ")
    assert Repository.objects.count() == 0


def test_adding_a_repository_checks_its_fields(people: dict[str, Person], shop: Repository) -> None:
    api = Api(people["admin"])
    cases = [
        ({"name": "bad name!", "url": "/x.git"}, "name"),
        ({"name": "", "url": "/x.git"}, "name"),
        ({"name": "ok", "url": " "}, "url"),
        ({"name": "ok", "url": "/x.git", "default_branch": "refs/heads/main"}, "default_branch"),
        ({"name": "ok", "url": "/x.git", "poll_interval": 1}, "poll_interval"),
        ({"name": "ok", "url": "/x.git", "poll_interval": -5}, "poll_interval"),
        ({"name": "ok"}, "url"),
        ({"name": "ok", "url": "/x.git", "poll_interval": "often"}, "poll_interval"),
    ]
    for body, field in cases:
        response = api.post("repositories", body)
        assert response.status_code == 400, body
        assert response.json()["field"] == field, response.json()
        assert response.json()["detail"].startswith(f"{field}: ")
    duplicate = api.post("repositories", {"name": "shop", "url": "/x.git"})
    assert duplicate.status_code == 409
    assert duplicate.json()["detail"] == "a repository named 'shop' already exists"
    assert Repository.objects.count() == 1


# -- runs -------------------------------------------------------------------------------


def test_runs_are_paged_by_cursor_newest_first(people: dict[str, Person], shop: Repository) -> None:
    Run.objects.bulk_create(
        [
            Run(
                repository=shop,
                number=number,
                workflow_path="ci.yml",
                event="push",
                ref="refs/heads/main" if number % 2 else "refs/heads/dev",
                status=Status.SUCCESS if number % 3 else Status.FAILURE,
            )
            for number in range(1, 61)
        ]
    )
    api = Api(people["viewer"])
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": 25} | ({"cursor": cursor} if cursor else {})
        page = api.get("repositories/shop/runs", **query).json()
        seen += [run["number"] for run in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(range(60, 0, -1))
    dev_failures = api.get("repositories/shop/runs", branch="dev", status="failure").json()
    expected = [n for n in range(60, 0, -1) if n % 2 == 0 and n % 3 == 0]
    assert [run["number"] for run in dev_failures["items"]] == expected
    assert all(run["branch"] == "dev" for run in dev_failures["items"])


def test_run_list_filters_are_checked(people: dict[str, Person], shop: Repository) -> None:
    api = Api(people["viewer"])
    for query, field in [
        ({"status": "green"}, "status"),
        ({"cursor": "garbage"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 1000}, "limit"),
        ({"limit": "many"}, "limit"),
    ]:
        response = api.get("repositories/shop/runs", **query)
        assert response.status_code == 400, query
        assert response.json()["field"] == field
    assert api.get("repositories/nope/runs").status_code == 404


def test_run_detail_has_jobs_steps_and_the_execution_table(
    people: dict[str, Person], shop: Repository
) -> None:
    run = finished_run_with_logs(shop)
    body = Api(people["viewer"]).get("repositories/shop/runs/1").json()
    assert body["status"] == "failure" and body["pipeline_status"] == "Test failed"
    assert body["duration_seconds"] == pytest.approx(9, abs=0.5)
    [job] = body["jobs"]
    assert [step["name"] for step in job["steps"]] == ["Build", "Test", "Deploy"]
    assert [step["log_lines"] for step in job["steps"]] == [3, 3, 0]
    assert body["tracker"] == [
        {"column": "Start", "pipeline_status": "Not started"},
        {"column": "After Build", "pipeline_status": "Build successful"},
        {"column": "After Test", "pipeline_status": "Test failed"},
        {"column": "After Deploy", "pipeline_status": "Test failed"},
    ]
    table = body["execution_table"]
    assert [row["action"] for row in table] == [
        "Build Stage",
        "Test Stage",
        "Deploy Stage",
        "Pipeline End",
    ]
    assert table[0]["result"].startswith("Succeeded in 5.0s: Build line 3")
    assert table[0]["next_step"] == "Proceed to Test Stage"
    assert table[1]["result"].startswith("Failed")
    assert table[1]["next_step"] == "Pipeline stopped"
    assert table[3]["next_step"] == "Stopped: Test failed"
    job_id = job["id"]
    step = Api(people["viewer"]).get(f"repositories/shop/runs/1/jobs/{job_id}/steps/1").json()
    assert step["annotations"] == [
        {
            "level": "error",
            "message": "2 tests failed",
            "file": "t.py",
            "line": 3,
            "column": None,
            "title": "",
        }
    ]
    assert Api(people["viewer"]).get(f"repositories/shop/runs/1/jobs/{job_id}").json()["id"] == (
        job_id
    )
    assert run.jobs.count() == 1
    assert Api(people["viewer"]).get("repositories/shop/runs/2").status_code == 404
    assert Api(people["viewer"]).get("repositories/shop/runs/1/jobs/999999").status_code == 404
    assert (
        Api(people["viewer"]).get(f"repositories/shop/runs/1/jobs/{job_id}/steps/9").status_code
        == 404
    )


def test_a_multi_job_run_has_a_stage_per_job(people: dict[str, Person], shop: Repository) -> None:
    run = make_run(shop, 1, status=Status.RUNNING, pipeline_status="build succeeded")
    now = timezone.now()
    Job.objects.create(
        run=run,
        job_key="build",
        job_id="build",
        order=0,
        status=Status.SUCCESS,
        started_at=now - timedelta(seconds=2),
        finished_at=now,
    )
    for order, os_name in enumerate(["linux", "mac"]):
        Job.objects.create(
            run=run,
            job_key=f"test ({os_name})",
            job_id="test",
            order=1,
            matrix={"os": os_name},
            needs=["build"],
            status=Status.RUNNING if order else Status.SUCCESS,
        )
    Job.objects.create(run=run, job_key="deploy", job_id="deploy", order=2, needs=["test"])
    record_execution(
        run,
        MATRIX_WORKFLOW,
        [
            ev.JobStarted("build", "build", "build"),
            ev.JobFinished("build", "build", ev.Status.SUCCESS, 2.0),
            ev.JobStarted("test (linux)", "test", "test (linux)", {"os": "linux"}),
            ev.JobStarted("test (mac)", "test", "test (mac)", {"os": "mac"}),
            ev.JobFinished("test (linux)", "test", ev.Status.SUCCESS, 1.0),
        ],
    )
    body = Api(people["viewer"]).get("repositories/shop/runs/1").json()
    assert [row["action"] for row in body["execution_table"]] == [
        "build",
        "test",
        "deploy",
        "Pipeline End",
    ]
    assert [row["next_step"] for row in body["execution_table"]] == [
        "Proceed to test",
        "Running",
        "Waiting",
        "Running",
    ]
    assert body["tracker"][-1]["pipeline_status"] == "test running"
    assert [job["matrix"] for job in body["jobs"]][1:3] == [{"os": "linux"}, {"os": "mac"}]


# -- logs -------------------------------------------------------------------------------


def test_log_pages_by_line_range(people: dict[str, Person], shop: Repository) -> None:
    run = make_run(shop, 1)
    job = Job.objects.create(run=run, job_key="j", job_id="j")
    step = Step.objects.create(job=job, index=0, name="many", status=Status.SUCCESS)
    line = 1
    for seq in range(10):  # chunks of uneven sizes: 1, 2, ... 10 lines
        count = seq + 1
        text = "\n".join(f"line {n}" for n in range(line, line + count))
        LogChunk.objects.create(step=step, seq=seq, first_line=line, line_count=count, text=text)
        line += count
    total = line - 1
    api = Api(people["viewer"])
    path = f"repositories/shop/runs/1/jobs/{job.pk}/steps/0/log"
    collected: list[str] = []
    start: int | None = 1
    while start is not None:
        page = api.get(path, start=start, limit=7).json()
        assert page["total_lines"] == total and page["complete"] is True
        assert [entry["number"] for entry in page["lines"]] == list(
            range(start, min(start + 7, total + 1))
        )
        collected += [entry["text"] for entry in page["lines"]]
        start = page["next_start"]
    assert collected == [f"line {n}" for n in range(1, total + 1)]
    beyond = api.get(path, start=total + 5).json()
    assert beyond["lines"] == [] and beyond["next_start"] is None
    assert api.get(path, start=0).json()["field"] == "start"
    assert api.get(path, limit=100000).json()["field"] == "limit"
    download = api.get(f"{path}.txt")
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/plain")
    assert "attachment" in download["Content-Disposition"]
    text = b"".join(download.streaming_content).decode()
    assert text == "".join(f"line {n}\n" for n in range(1, total + 1))


# -- trigger, cancel, re-run --------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [("admin", 202), ("member", 202), ("viewer", 403), ("outsider", 403), ("anonymous", 401)],
)
def test_who_may_cancel(people: dict[str, Person], shop: Repository, who: str, status: int) -> None:
    run = make_run(shop, 1, status=Status.QUEUED)
    response = Api(people[who]).post("repositories/shop/runs/1/cancel")
    assert response.status_code == status, response.content
    run.refresh_from_db()
    if status == 202:
        assert response.json()["status"] == "cancelled"
        assert run.status == Status.CANCELLED
        assert run.reason == f"cancelled by {people[who].user.username}"
    else:
        assert run.status == Status.QUEUED


def test_a_finished_run_cannot_be_cancelled(people: dict[str, Person], shop: Repository) -> None:
    make_run(shop, 1, status=Status.SUCCESS)
    response = Api(people["member"]).post("repositories/shop/runs/1/cancel")
    assert response.status_code == 409
    assert response.json()["detail"] == "run #1 has already finished (success)"


def test_rerun_refuses_a_run_in_progress_and_one_without_failures(
    people: dict[str, Person], shop: Repository
) -> None:
    make_run(shop, 1, status=Status.RUNNING)
    make_run(shop, 2, status=Status.SUCCESS)
    api = Api(people["member"])
    running = api.post("repositories/shop/runs/1/rerun")
    assert running.status_code == 409
    assert "still running" in running.json()["detail"]
    no_failures = api.post("repositories/shop/runs/2/rerun?failed=1")
    assert no_failures.status_code == 409
    assert no_failures.json()["detail"] == "run #2 has no failed jobs to re-run"
    assert Api(people["viewer"]).post("repositories/shop/runs/2/rerun").status_code == 403
    assert Run.objects.count() == 2


def test_trigger_needs_a_member_and_a_workflow(people: dict[str, Person], shop: Repository) -> None:
    assert (
        Api(people["viewer"]).post("repositories/shop/runs", {"workflow": "x"}).status_code == 403
    )
    api = Api(people["member"])
    missing = api.post("repositories/shop/runs", {"event": "workflow_dispatch"})
    assert missing.status_code == 400 and missing.json()["field"] == "workflow"
    wrong_event = api.post("repositories/shop/runs", {"event": "schedule", "workflow": "x"})
    assert wrong_event.status_code == 400 and wrong_event.json()["field"] == "event"
    push_inputs = api.post("repositories/shop/runs", {"event": "push", "inputs": {"a": "b"}})
    assert push_inputs.status_code == 400 and push_inputs.json()["field"] == "inputs"
    unreachable = api.post("repositories/shop/runs", {"event": "push"})
    assert unreachable.status_code == 502
    assert "cannot fetch repository 'shop'" in unreachable.json()["detail"]
    assert Run.objects.count() == 0


# -- secrets ----------------------------------------------------------------------------


def test_secrets_names_only_and_admin_only_changes(
    people: dict[str, Person], shop: Repository
) -> None:
    admin, member, viewer = (Api(people[who]) for who in ("admin", "member", "viewer"))
    created = admin.put("repositories/shop/secrets/DEPLOY_KEY", {"value": "hunter2-value"})
    assert created.status_code == 201
    assert created.json()["name"] == "DEPLOY_KEY"
    assert "hunter2-value" not in created.content.decode()
    stored = Secret.objects.get(name="DEPLOY_KEY")
    assert "hunter2-value" not in stored.value_encrypted
    assert stored.reveal() == "hunter2-value"
    updated = admin.put("repositories/shop/secrets/DEPLOY_KEY", {"value": "new-value"})
    assert updated.status_code == 200
    stored.refresh_from_db()
    assert stored.reveal() == "new-value"
    assert member.put("repositories/shop/secrets/OTHER", {"value": "v"}).status_code == 403
    assert member.delete("repositories/shop/secrets/DEPLOY_KEY").status_code == 403
    assert [s["name"] for s in member.get("repositories/shop/secrets").json()] == ["DEPLOY_KEY"]
    assert viewer.get("repositories/shop/secrets").status_code == 403
    bad_name = admin.put("repositories/shop/secrets/1BAD", {"value": "v"})
    assert bad_name.status_code == 400 and bad_name.json()["field"] == "secret_name"
    empty = admin.put("repositories/shop/secrets/EMPTY", {"value": ""})
    assert empty.status_code == 400 and empty.json()["field"] == "value"
    assert admin.delete("repositories/shop/secrets/DEPLOY_KEY").status_code == 204
    assert admin.delete("repositories/shop/secrets/DEPLOY_KEY").status_code == 404
    assert Secret.objects.count() == 0


def test_a_log_download_reads_a_few_chunks_at_a_time(
    people: dict[str, Person], shop: Repository
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conveyor.server.api.logs import CHUNKS_PER_READ

    run = make_run(shop, 1)
    job = Job.objects.create(run=run, job_key="j", job_id="j")
    step = Step.objects.create(job=job, index=0, status=Status.SUCCESS)
    LogChunk.objects.bulk_create(
        LogChunk(step=step, seq=seq, first_line=seq + 1, line_count=1, text=f"chunk {seq}")
        for seq in range(50)
    )
    response = Api(people["viewer"]).get(f"repositories/shop/runs/1/jobs/{job.pk}/steps/0/log.txt")
    with CaptureQueriesContext(connection) as queries:
        text = b"".join(response.streaming_content).decode()
    assert text == "".join(f"chunk {seq}\n" for seq in range(50))
    table = LogChunk._meta.db_table
    reads = [query["sql"] for query in queries.captured_queries if table in query["sql"]]
    # 16 + 16 + 16 + 2 chunks, then an empty read that ends the download
    assert len(reads) == -(-50 // CHUNKS_PER_READ) + 1
    assert all(f"LIMIT {CHUNKS_PER_READ}" in sql for sql in reads)


def test_a_page_of_runs_costs_the_same_queries_whatever_its_size(
    people: dict[str, Person], shop: Repository, django_assert_max_num_queries: Any
) -> None:
    Run.objects.bulk_create(
        Run(repository=shop, number=n, workflow_path="ci.yml", event="push") for n in range(1, 101)
    )
    first = make_run(shop, 101, rerun_of=Run.objects.get(number=1), attempt=2)
    api = Api(people["viewer"])
    api.get("me")  # last_used_at is written once a minute at most; not in the count below
    with django_assert_max_num_queries(6):
        page = api.get("repositories/shop/runs", limit=100).json()
    assert len(page["items"]) == 100
    assert page["items"][0]["rerun_of"] == 1 and first.number == 101


def test_password_guessing_is_stopped(people: dict[str, Person], settings: Any) -> None:
    from django.core.cache import cache

    from conveyor.server.accounts.login_limit import FAILURES_ALLOWED

    cache.clear()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = people["member"].user
    user.set_password("right-password")
    user.save()

    def issue(password: str) -> Any:
        basic = base64.b64encode(f"max:{password}".encode()).decode()
        return Client().post(
            "/api/tokens",
            {"name": "guess"},
            content_type="application/json",
            headers={"Authorization": f"Basic {basic}"},
        )

    for attempt in range(FAILURES_ALLOWED):
        assert issue(f"guess-{attempt}").status_code == 401
    refused = issue("right-password")
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("too many wrong passwords for 'max'")
    cache.clear()  # the window has passed
    assert issue("right-password").status_code == 201


def test_unknown_paths_and_methods_answer_in_the_error_shape(people: dict[str, Person]) -> None:
    api = Api(people["viewer"])
    unknown = api.get("runz")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "no API endpoint /api/runz (see /api/docs)", "field": None}
    wrong_method = api.delete("repositories")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["detail"].startswith("DELETE is not allowed here (allowed: ")
    assert "GET" in wrong_method["Allow"] and "POST" in wrong_method["Allow"]


def test_an_internal_error_is_a_json_500_without_a_traceback(
    people: dict[str, Person], shop: Repository
) -> None:
    from django.db import connection

    finished_run_with_logs(shop)
    job = Job.objects.get()
    # A real failure underneath: the table the step's annotations live in is gone
    # (inside the test's transaction, so it comes back afterwards).
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Its foreign keys are checked at commit; a table with checks pending stays.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"DROP TABLE {Annotation._meta.db_table}")
    response = Api(people["viewer"]).get(f"repositories/shop/runs/1/jobs/{job.pk}/steps/1")
    assert response.status_code == 500
    assert response.json() == {
        "detail": "internal error: the server could not answer (see its log)",
        "field": None,
    }
    assert "Traceback" not in response.content.decode()
