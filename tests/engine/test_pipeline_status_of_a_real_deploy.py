"""A stage that deploys with conveyor/deploy-django says what became of the release:
``Deployed`` only once it went live, ``Rolled back`` when it was undone."""

from __future__ import annotations

from conveyor.engine.events import DeploymentChanged, JobFinished, JobStarted, Status
from conveyor.engine.pipeline_status import PipelineTracker
from conveyor.workflow.model import Job, Step, Workflow
from tests.engine.test_pipeline_status import (
    HERE,
    build_and_test_workflow,
    feed,
    seed_workflow,
    step_events,
)


def deployment(state: str, step: int = 2, job_key: str = "pipeline") -> DeploymentChanged:
    return DeploymentChanged(job_key=job_key, step=step, state=state, target="/srv/shop")


def seed_until_deploy(*states: str, status: Status) -> PipelineTracker:
    tracker = PipelineTracker(seed_workflow())
    feed(tracker, step_events(0, Status.SUCCESS) + step_events(1, Status.SUCCESS))
    feed(tracker, [deployment(state) for state in states])
    feed(tracker, step_events(2, status))
    return tracker


def test_a_live_release_is_deployed() -> None:
    tracker = seed_until_deploy("deploying", "health-checking", "live", status=Status.SUCCESS)
    assert tracker.pipeline_status == "Deployed"
    assert tracker.snapshot()["stages"][2]["deployment"] == "live"


def test_a_release_that_failed_its_health_check_is_not_deployed() -> None:
    tracker = seed_until_deploy("deploying", "health-checking", "failed", status=Status.FAILURE)
    assert tracker.pipeline_status == "Deploy failed"


def test_a_release_rolled_back_after_the_switch_says_so() -> None:
    tracker = seed_until_deploy(
        "deploying", "health-checking", "live", "rolled-back", status=Status.FAILURE
    )
    assert tracker.pipeline_status == "Rolled back"
    # Drawn again from its snapshot (the server's run page), it still says so.
    assert PipelineTracker.from_snapshot(tracker.snapshot()).pipeline_status == "Rolled back"


def test_a_deploy_stage_whose_name_says_nothing_still_says_deployed() -> None:
    step = Step(index=0, position=HERE, name="Ship it", uses="conveyor/deploy-django@v1")
    job = Job(id="ship", position=HERE, steps=[step])
    tracker = PipelineTracker(Workflow(path="w.yml", position=HERE, jobs={"ship": job}))
    feed(tracker, [deployment("live", step=0, job_key="ship")])
    feed(tracker, step_events(0, Status.SUCCESS))
    assert tracker.pipeline_status == "Deployed"


def test_a_job_stage_takes_its_steps_deployment() -> None:
    tracker = PipelineTracker(build_and_test_workflow())
    feed(
        tracker,
        [
            JobStarted("build", "build", "build"),
            JobFinished("build", "build", Status.SUCCESS, 2.0),
            JobStarted("test", "test", "test"),
            deployment("live", step=0, job_key="test"),
            deployment("rolled-back", step=0, job_key="test"),
            JobFinished("test", "test", Status.FAILURE, 1.0),
        ],
    )
    assert tracker.pipeline_status == "Rolled back"
