"""The web UI through Django's test client: every page, every role, a real run's rows."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import AsyncClient, Client

from conveyor.server.runs import services
from conveyor.server.runs.models import LogChunk, Run, Step
from tests.server import test_ui_support as support
from tests.server.conftest import GitProject, wait_for, wait_for_run_end, workspace_of
from tests.server.test_ui_support import PASSWORD, push_rich_workflow

cast = support.cast  # fixtures shared with the other UI tests
finished_run = support.finished_run

pytestmark = pytest.mark.django_db(transaction=True)


def sse_events(body: str) -> list[tuple[str, Any]]:
    """``(event, data)`` of each message of a text/event-stream body."""
    found = []
    for block in body.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.split("\n") if ": " in line and line[0] != ":"
        )
        if "event" in fields:
            found.append((fields["event"], json.loads(fields["data"])))
    return found


async def read_stream(url: str, user: User, headers: dict[str, str] | None = None) -> str:
    client = AsyncClient()
    await client.aforce_login(user)
    response = await client.get(url, headers=headers or {})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    parts = [part async for part in response.streaming_content]
    return b"".join(p if isinstance(p, bytes) else p.encode() for p in parts).decode()


# -- access ------------------------------------------------------------------------------------


def test_the_outsider_is_sent_to_log_in_everywhere_but_the_badge(cast, repository):
    outsider = cast["outsider"]
    for url in (
        "/",
        "/repos/shop/",
        "/repos/shop/runs/1/",
        "/repos/shop/runs/1/events",
        "/repos/shop/runs/1/log/1/1.txt",
    ):
        response = outsider.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url
    for url in ("/repos/shop/runs/1/cancel", "/repos/shop/runs/1/rerun", "/repos/shop/dispatch"):
        response = outsider.post(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    assert outsider.get("/badge/shop.svg").status_code == 200


def test_logging_in_with_the_right_password_opens_the_dashboard(cast, repository):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/login/?next=/repos/shop/")
    assert page.status_code == 200 and b'name="csrfmiddlewaretoken"' in page.content
    token = client.cookies["csrftoken"].value
    wrong = client.post(
        "/login/", {"username": "viewer", "password": "nope", "csrfmiddlewaretoken": token}
    )
    assert wrong.status_code == 200 and b"did not match" in wrong.content
    right = client.post(
        "/login/",
        {
            "username": "viewer",
            "password": PASSWORD,
            "next": "/repos/shop/",
            "csrfmiddlewaretoken": token,
        },
    )
    assert right.status_code == 302 and right["Location"] == "/repos/shop/"
    assert client.get("/repos/shop/").status_code == 200
    # Logging out is a POST with the CSRF token; a GET does nothing.
    assert client.get("/logout/").status_code == 405
    token = client.cookies["csrftoken"].value
    assert client.post("/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_a_post_without_the_csrf_token_is_refused(repository, git_project):
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    client = Client(enforce_csrf_checks=True)
    client.login(username="root", password=PASSWORD)
    run = push_rich_workflow(repository, git_project)
    response = client.post(f"/repos/shop/runs/{run.number}/cancel")
    assert response.status_code == 403
    assert Run.objects.get(pk=run.pk).status == "queued"


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_every_role_sees_every_page(cast, finished_run, role):
    client = cast[role]
    number = finished_run.number
    step = Step.objects.filter(job__run=finished_run).first()
    for url in (
        "/",
        "/repos/shop/",
        f"/repos/shop/runs/{number}/",
        f"/repos/shop/runs/{number}/log/{step.job_id}/{step.index + 1}.txt",
    ):
        assert client.get(url).status_code == 200, (role, url)
    page = client.get(f"/repos/shop/runs/{number}/").content.decode()
    buttons = ("Re-run all jobs", "Re-run failed jobs", "Cancel run")
    if role == "viewer":
        assert not any(button in page for button in buttons)
    else:
        assert all(button in page for button in buttons)


def test_a_viewer_may_not_cancel_rerun_or_dispatch(cast, repository, git_project):
    run = push_rich_workflow(repository, git_project)
    viewer = cast["viewer"]
    refused = viewer.post(f"/repos/shop/runs/{run.number}/cancel")
    assert refused.status_code == 403
    assert b"This needs the role member or admin; your role is viewer." in refused.content
    assert viewer.post(f"/repos/shop/runs/{run.number}/rerun").status_code == 403
    dispatch = {"workflow": ".github/workflows/ci.yml", "branch": "main", "input.greeting": "x"}
    assert viewer.post("/repos/shop/dispatch", dispatch).status_code == 403
    assert Run.objects.get(pk=run.pk).status == "queued"
    assert Run.objects.count() == 1


def test_unknown_repositories_and_runs_are_404_naming_them(cast, repository):
    admin = cast["admin"]
    unknown = admin.get("/repos/nope/")
    assert unknown.status_code == 404
    assert b"No repository named &#x27;nope&#x27;" in unknown.content
    missing = admin.get("/repos/shop/runs/99/")
    assert missing.status_code == 404
    assert b"Repository &#x27;shop&#x27; has no run #99" in missing.content
    assert admin.get("/repos/shop/runs/1/log/1/1.txt").status_code == 404


# -- the run page -------------------------------------------------------------------------------


def test_the_run_page_draws_the_flow_graph_tables_annotations_and_summary(cast, finished_run):
    page = cast["viewer"].get(f"/repos/shop/runs/{finished_run.number}/").content.decode()
    flow = re.search(r'<ol class="flow" id="flow">(.*?)</ol>', page, re.S).group(1)
    names = re.findall(r'<span class="flow-name">([^<]*)</span>', flow)
    assert names == ["Commit", "Trigger", "build", "test", "deploy", "Production", "Feedback"]
    statuses = re.findall(r'data-status="(\w+)"', flow)
    assert statuses == ["success", "success", "success", "failure", "skipped", "skipped", "failure"]
    # The job graph: one node a job, one edge a `needs`.
    graph = re.search(r'<svg class="job-graph".*?</svg>', page, re.S).group(0)
    assert re.findall(r'data-job-id="(\w+)" data-status="(\w+)"', graph) == [
        ("build", "success"),
        ("test", "failure"),
        ("deploy", "skipped"),
    ]
    assert graph.count('class="edge"') == 2
    # The seed's execution table and tracker, worded by the engine's own tracker.
    table = re.search(r'id="exec-table">(.*?)</table>', page, re.S).group(1)
    assert "Proceed to test" in table and "Pipeline End" in table and "Stage" not in table
    assert "Failed" in table and "Pipeline stopped" in table
    tracker = re.search(r'id="tracker">(.*?)</table>', page, re.S).group(1)
    assert "<td>Start</td><td>Not started</td>" in tracker
    assert "<td>After test</td><td>Test failed</td>" in tracker
    # The warning annotation and the sanitised summary.
    assert "Careful here" in page and "app.py:3" in page
    assert "<h2>Build report</h2>" in page and "<strong>bold</strong>" in page
    assert "alert(1)" not in page and 'href="javascript:' not in page


def test_the_page_of_an_invalid_workflows_run_says_where_it_is_wrong(cast, repository, git_project):
    git_project.commit({".conveyor.yml": "on: push\nsteps:\n  - name: Oops\n    rnu: x\n"})
    before, after = git_project.push()
    [run] = services.create_runs_for_event(
        repository, event="push", ref="refs/heads/main", sha=after, before_sha=before
    )
    page = cast["viewer"].get(f"/repos/shop/runs/{run.number}/").content.decode()
    reason = re.search(r'<p id="run-reason"[^>]*>(.*?)</p>', page, re.S).group(1)
    assert re.search(r"\.conveyor\.yml:\d+:\d+", reason), reason
    assert "No job ran." in page
    flow = re.findall(r'<span class="flow-name">([^<]*)</span>', page)
    assert flow == ["Commit", "Trigger", "Pipeline", "Production", "Feedback"]


def test_the_download_is_the_steps_whole_log(cast, finished_run):
    async_to_sync(_the_download_is_the_steps_whole_log)(cast, finished_run)


async def _the_download_is_the_steps_whole_log(cast, finished_run):
    from asgiref.sync import sync_to_async

    step = await Step.objects.aget(job__run=finished_run, job__job_id="build", index=0)
    client = AsyncClient()
    await client.aforce_login(await User.objects.aget(username="viewer"))
    response = await client.get(f"/repos/shop/runs/{finished_run.number}/log/{step.job_id}/1.txt")
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    text = b"".join([part async for part in response.streaming_content]).decode()
    expected = await sync_to_async(
        lambda: "".join(c.text + "\n" for c in LogChunk.objects.filter(step=step).order_by("seq"))
    )()
    assert text == expected
    assert "\x1b[32mgreen ok\x1b[0m <tag>" in text and "greeting=hello" in text


# -- the live stream ---------------------------------------------------------------------------


def test_the_stream_of_a_finished_run_sends_state_every_line_and_end(cast, finished_run):
    async_to_sync(_the_stream_of_a_finished_run_sends_state_every_line_and_end)(cast, finished_run)


async def _the_stream_of_a_finished_run_sends_state_every_line_and_end(cast, finished_run):
    from asgiref.sync import sync_to_async

    viewer = await User.objects.aget(username="viewer")
    url = f"/repos/shop/runs/{finished_run.number}/events"
    events = sse_events(await read_stream(url, viewer))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "state" and kinds[-1] == "end" and "log" in kinds
    state = events[0][1]
    assert state["run"]["status"] == "failure"
    assert [row["action"] for row in state["table"]][:3] == [
        "build",
        "test",
        "deploy",
    ]
    assert state["graph"] == {"build": "success", "test": "failure", "deploy": "skipped"}
    [note] = state["annotations"]
    assert (note["level"], note["message"], note["file"], note["line"]) == (
        "warning",
        "Careful here",
        "app.py",
        3,
    )
    [summary] = state["summaries"]
    assert "<strong>bold</strong>" in summary["html"] and "alert(1)" not in summary["html"]
    lines = [line for kind, data in events if kind == "log" for line in data["lines"]]
    stored = await sync_to_async(
        lambda: sum(c.line_count for c in LogChunk.objects.filter(step__job__run=finished_run))
    )()
    assert len(lines) == stored
    html = "".join(line["html"] for line in lines)
    assert '<span class="ansi-fg-green">green ok</span> &lt;tag&gt;' in html
    assert {"group", "endgroup", "line"} <= {line["kind"] for line in lines}
    assert any(line["kind"] == "group" and line["html"] == "Details" for line in lines)
    # From the last chunk id on (a reconnecting browser's Last-Event-ID) no line comes again.
    last_id = await sync_to_async(
        lambda: LogChunk.objects.filter(step__job__run=finished_run).order_by("-id").first().id
    )()
    again = sse_events(await read_stream(url, viewer, {"Last-Event-ID": str(last_id)}))
    assert [kind for kind, _ in again] == ["state", "end"]


def test_the_stream_of_a_running_run_sends_lines_as_they_are_written(
    cast, repository, git_project, workers
):
    async_to_sync(_the_stream_of_a_running_run_sends_lines_as_they_are_written)(
        cast, repository, git_project, workers
    )


async def _the_stream_of_a_running_run_sends_lines_as_they_are_written(
    cast, repository, git_project, workers
):
    """A step prints a line, waits for a file, prints another: the stream shows the first
    line while the run is still running, then the second, then the end."""
    from asgiref.sync import sync_to_async

    workflow = (
        "on: push\nsteps:\n  - name: Slow\n    run: |\n      echo first line\n"
        "      while [ ! -e gate ]; do sleep 0.05; done\n      echo second line\n"
    )
    run = await sync_to_async(_push_and_create)(repository, git_project, workflow)
    viewer = await User.objects.aget(username="viewer")
    client = AsyncClient()
    await client.aforce_login(viewer)
    response = await client.get(f"/repos/shop/runs/{run.number}/events")
    stream = aiter(response.streaming_content)
    seen: list[tuple[str, Any]] = []
    buffer = ""
    while not any(
        kind == "log" and any("first line" in line["html"] for line in data["lines"])
        for kind, data in seen
    ):
        buffer += (await anext(stream)).decode()
        *blocks, buffer = buffer.split("\n\n")
        seen += sse_events("\n\n".join(blocks) + "\n\n")
    assert not any("second line" in json.dumps(data) for _, data in seen)
    assert (await Run.objects.aget(pk=run.pk)).status == "running"
    (workspace_of(run) / "gate").touch()
    async for part in stream:
        buffer += part.decode()
    seen += sse_events(buffer)
    assert seen[-1][0] == "end" and seen[-1][1]["status"] == "success"
    assert any(kind == "log" and "second line" in json.dumps(data) for kind, data in seen)
    final_state = [data for kind, data in seen if kind == "state"][-1]
    assert final_state["table"][0]["result"].startswith("Succeeded")


def _push_and_create(repository: Any, project: GitProject, workflow: str) -> Run:
    project.commit({".conveyor.yml": workflow}, "slow")
    before, after = project.push()
    [run] = services.create_runs_for_event(
        repository, event="push", ref="refs/heads/main", sha=after, before_sha=before
    )
    return run


# -- buttons ---------------------------------------------------------------------------------


def test_a_member_cancels_a_running_run(cast, repository, git_project, workers):
    workflow = "on: push\nsteps:\n  - name: Sleep\n    run: sleep 30\n"
    run = _push_and_create(repository, git_project, workflow)
    wait_for(lambda: Step.objects.filter(job__run=run, status="running").exists(), what="start")
    response = cast["member"].post(f"/repos/shop/runs/{run.number}/cancel")
    assert response.status_code == 302 and response["Location"] == f"/repos/shop/runs/{run.number}/"
    run = wait_for_run_end(run, timeout=10)
    assert run.status == "cancelled"


def test_rerun_buttons_make_the_next_attempt(cast, finished_run, workers):
    member = cast["member"]
    response = member.post(f"/repos/shop/runs/{finished_run.number}/rerun?failed=1")
    assert response.status_code == 302
    failed_only = Run.objects.get(rerun_of=finished_run)
    assert response["Location"] == f"/repos/shop/runs/{failed_only.number}/"
    assert failed_only.attempt == 2 and sorted(failed_only.only_jobs) == ["deploy", "test"]
    everything = member.post(f"/repos/shop/runs/{finished_run.number}/rerun")
    assert everything.status_code == 302
    assert Run.objects.filter(rerun_of=finished_run, only_jobs__isnull=True).count() == 1


def test_a_member_runs_a_workflow_with_an_input(cast, repository, git_project, workers):
    wait_for_run_end(push_rich_workflow(repository, git_project))  # mirrors the repository
    page = cast["member"].get("/repos/shop/").content.decode()
    assert 'data-workflow=".github/workflows/ci.yml"' in page
    assert 'name="input.greeting" value="hello"' in page
    response = cast["member"].post(
        "/repos/shop/dispatch",
        {"workflow": ".github/workflows/ci.yml", "branch": "main", "input.greeting": "bonjour"},
    )
    run = Run.objects.get(event="workflow_dispatch")
    assert response["Location"] == f"/repos/shop/runs/{run.number}/"
    assert run.inputs == {"greeting": "bonjour"} and run.actor == "member"
    run = wait_for_run_end(run)
    build = Step.objects.get(job__run=run, job__job_id="build", index=0)
    assert "greeting=bonjour" in "".join(c.text for c in build.log_chunks.all())


def test_a_local_repository_never_built_offers_its_workflows_to_run(cast, repository, git_project):
    git_project.commit({".github/workflows/ci.yml": support.RICH_WORKFLOW})
    git_project.push()  # straight to the bare repository: the server has not seen it
    page = cast["member"].get("/repos/shop/").content.decode()
    assert 'data-workflow=".github/workflows/ci.yml"' in page
    assert "<option selected>main</option>" in page
    # A viewer sees the runs, not the form.
    assert "data-workflow=" not in cast["viewer"].get("/repos/shop/").content.decode()


def test_dispatch_with_an_unknown_input_or_branch_says_why(cast, repository, git_project, workers):
    wait_for_run_end(push_rich_workflow(repository, git_project))
    member = cast["member"]
    unknown = member.post(
        "/repos/shop/dispatch",
        {"workflow": ".github/workflows/ci.yml", "branch": "main", "input.nope": "x"},
        follow=True,
    )
    assert b"unknown input &#x27;nope&#x27;" in unknown.content
    assert b"message-error" in unknown.content
    no_branch = member.post(
        "/repos/shop/dispatch",
        {"workflow": ".github/workflows/ci.yml", "branch": "nope", "input.greeting": "x"},
        follow=True,
    )
    assert b"no branch &#x27;nope&#x27;" in no_branch.content
    assert Run.objects.filter(event="workflow_dispatch").count() == 0
