"""Issue 10 as a team sees it: one server, workers on "other machines" (processes with
no database credentials), Redis as the broker. A matrix spreads over the workers,
``needs`` outputs cross between them, labels route jobs, a worker killed mid-job
neither hangs the run nor runs the job twice, and a server restart loses nothing."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.scale_out.support import LOST_SECONDS, Cluster, short_name
from tests.server.conftest import GitProject, wait_for
from tests.server.test_api_http import admin_with_repository, call

pytestmark = pytest.mark.slow

MATRIX = """\
name: Spread
on: workflow_dispatch
jobs:
  build:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        part: [1, 2, 3, 4]
    outputs:
      made: ${{ steps.make.outputs.made }}
    steps:
      - id: make
        run: |
          sleep 2
          echo "made=part-${{ matrix.part }}" >> "$GITHUB_OUTPUT"
          echo "built part ${{ matrix.part }}"
  report:
    needs: build
    runs-on: [self-hosted, linux]
    steps:
      - run: echo "the build made ${{ needs.build.outputs.made }}"
"""


def _trigger(cluster: Cluster, git_project: GitProject, workflow: str) -> int:
    git_project.commit({".github/workflows/ci.yml": workflow}, "Add CI")
    git_project.push()
    assert cluster.server is not None
    cluster.api, cluster.auth = admin_with_repository(cluster.server.url, git_project.bare)
    status, created = call(
        f"{cluster.api}/repositories/shop/runs",
        "POST",
        {"workflow": ".github/workflows/ci.yml"},
        **cluster.auth,
    )
    assert status == 201, created
    runs = created if isinstance(created, list) else created.get("runs", [created])
    return int(runs[0]["number"])


def test_a_matrix_spreads_over_two_workers_and_needs_outputs_cross_them(
    cluster: Cluster, git_project: GitProject
) -> None:
    cluster.start_server()
    number = _trigger(cluster, git_project, MATRIX)
    cluster.start_worker("w1", sandbox=True)
    cluster.start_worker("w2", sandbox=True)
    run = cluster.wait_for_run_end(number, 120)
    jobs = cluster.run_jobs(number)
    assert run["status"] == "success", (run, jobs, cluster.server.output())
    builds = [job for job in jobs if job["job_id"] == "build"]
    assert len(builds) == 4
    assert {short_name(job["worker"]) for job in builds} == {"w1", "w2"}, builds
    report = next(job for job in jobs if job["job_id"] == "report")
    assert short_name(report["worker"]) in ("w1", "w2")
    assert report["status"] == "success"


def test_a_worker_killed_mid_job_fails_that_job_within_the_bound(
    cluster: Cluster, git_project: GitProject
) -> None:
    cluster.start_server()
    number = _trigger(
        cluster,
        git_project,
        """\
name: Long
on: workflow_dispatch
jobs:
  long:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "started on the worker"
          sleep 120
""",
    )
    worker = cluster.start_worker("doomed")

    def running() -> bool:
        return any(job["status"] == "running" for job in cluster.run_jobs(number))

    wait_for(running, 60, "the job to run on the worker")
    cluster.kill_worker(worker)
    run = cluster.wait_for_run_end(number, LOST_SECONDS + 30)
    (job,) = cluster.run_jobs(number)
    assert run["status"] == "failure"
    assert job["status"] == "failure"
    assert "worker lost" in job["reason"], job
    assert short_name(job["worker"]) == "doomed"


ROUTED = """\
name: Routed
on: workflow_dispatch
jobs:
  big:
    runs-on: [self-hosted, big]
    steps:
      - run: echo "on a big machine"
  small:
    runs-on: ubuntu-latest
    steps:
      - run: echo "anywhere"
  gpu:
    runs-on: [self-hosted, gpu]
    steps:
      - run: echo "never here"
"""


def test_labels_route_jobs_and_a_job_no_worker_can_take_says_so(
    cluster: Cluster, git_project: GitProject
) -> None:
    cluster.start_server()
    number = _trigger(cluster, git_project, ROUTED)
    cluster.start_worker("plain")
    cluster.start_worker("large", labels="big")

    def others_done() -> list | None:
        jobs = {job["job_id"]: job for job in cluster.run_jobs(number)}
        ended = all(jobs[key]["status"] == "success" for key in ("big", "small") if key in jobs)
        return list(jobs.values()) if ended and len(jobs) == 3 else None

    jobs = {job["job_id"]: job for job in wait_for(others_done, 90, "the routable jobs")}
    assert short_name(jobs["big"]["worker"]) == "large"
    assert short_name(jobs["small"]["worker"]) in ("plain", "large")
    gpu = jobs["gpu"]
    assert gpu["status"] in ("queued", "waiting")
    assert "gpu" in gpu["reason"] and "no worker" in gpu["reason"], gpu
    status, cancelled = call(
        f"{cluster.api}/repositories/shop/runs/{number}/cancel", "POST", {}, **cluster.auth
    )
    assert status in (200, 202), cancelled
    run = cluster.wait_for_run_end(number, 30)
    assert run["status"] == "cancelled"


def test_a_server_restart_while_workers_run_jobs_loses_nothing(
    cluster: Cluster, git_project: GitProject
) -> None:
    server = cluster.start_server()
    number = _trigger(
        cluster,
        git_project,
        """\
name: Through a restart
on: workflow_dispatch
jobs:
  first:
    runs-on: ubuntu-latest
    outputs:
      word: ${{ steps.say.outputs.word }}
    steps:
      - id: say
        run: |
          echo "first starts"
          sleep 8
          echo "word=kept" >> "$GITHUB_OUTPUT"
          echo "first ends"
  second:
    needs: first
    runs-on: ubuntu-latest
    steps:
      - run: echo "second got ${{ needs.first.outputs.word }}"
""",
    )
    cluster.start_worker("steady")

    def step_started() -> bool:
        jobs = {job["job_id"]: job for job in cluster.run_jobs(number)}
        return "first starts" in _step_log(cluster, number, jobs["first"]["id"], 0)

    wait_for(step_started, 60, "the first job's step to run on the worker")
    port = int(server.url.rsplit(":", 1)[1])
    server.process.kill()  # a crash: nothing is said to anyone
    server.process.wait(timeout=10)
    cluster.start_server(port=port)
    run = cluster.wait_for_run_end(number, 90)
    jobs = {job["job_id"]: job for job in cluster.run_jobs(number)}
    assert run["status"] == "success", (run, jobs, cluster.server.output())
    assert jobs["first"]["status"] == "success" and short_name(jobs["first"]["worker"]) == "steady"
    assert jobs["second"]["status"] == "success"
    first_log = _step_log(cluster, number, jobs["first"]["id"], 0)
    assert "first starts" in first_log and "first ends" in first_log
    assert "second got kept" in _step_log(cluster, number, jobs["second"]["id"], 0)


def _step_log(cluster: Cluster, number: int, job_id: int, index: int) -> str:
    request = urllib.request.Request(
        f"{cluster.api}/repositories/shop/runs/{number}/jobs/{job_id}/steps/{index}/log.txt",
        headers=cluster.auth,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read().decode()
    except urllib.error.HTTPError:
        return ""


def test_a_job_safe_to_retry_is_sent_again_when_its_worker_dies(
    cluster: Cluster, git_project: GitProject
) -> None:
    cluster.start_server()
    number = _trigger(
        cluster,
        git_project,
        """\
name: Retry
on: workflow_dispatch
jobs:
  idempotent:
    runs-on: ubuntu-latest
    env:
      CONVEYOR_RETRY_ON_WORKER_LOST: true
    steps:
      - run: |
          echo "attempt starts"
          sleep 6
          echo "attempt ends"
""",
    )
    first = cluster.start_worker("first")

    def step_started() -> bool:
        (job,) = cluster.run_jobs(number)
        return "attempt starts" in _step_log(cluster, number, job["id"], 0)

    wait_for(step_started, 60, "the job's step to run on the first worker")
    cluster.start_worker("second")
    cluster.kill_worker(first)
    run = cluster.wait_for_run_end(number, LOST_SECONDS + 60)
    (job,) = cluster.run_jobs(number)
    assert run["status"] == "success", (run, job)
    assert short_name(job["worker"]) == "second"
    assert "attempt ends" in _step_log(cluster, number, job["id"], 0)


ARTIFACTS = """\
name: Parts
on: workflow_dispatch
jobs:
  make:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        part: [a, b]
    steps:
      - run: echo "made ${{ matrix.part }}" > part.txt
      - uses: actions/upload-artifact@v4
        with:
          name: part-${{ matrix.part }}
          path: part.txt
  use:
    needs: make
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with:
          path: parts
      - run: cat parts/part-a/part.txt parts/part-b/part.txt
"""


def test_a_job_downloads_what_jobs_on_other_workers_uploaded(
    cluster: Cluster, git_project: GitProject
) -> None:
    cluster.start_server()
    number = _trigger(cluster, git_project, ARTIFACTS)
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    run = cluster.wait_for_run_end(number, 90)
    jobs = {job["job_id"]: job for job in cluster.run_jobs(number)}
    assert run["status"] == "success", (run, jobs)
    text = _step_log(cluster, number, jobs["use"]["id"], 1)
    assert "made a" in text and "made b" in text, text
    status, listed = call(
        f"{cluster.api}/repositories/shop/runs/{number}/artifacts", **cluster.auth
    )
    assert status == 200, listed
    items = listed if isinstance(listed, list) else listed.get("artifacts", listed.get("items"))
    assert sorted(item["name"] for item in items) == ["part-a", "part-b"]
