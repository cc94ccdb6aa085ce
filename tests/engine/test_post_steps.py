"""What the engine offers actions: a process run like a step, and post steps at the job's end."""

from __future__ import annotations

import pytest

from conveyor import actions
from conveyor.engine.events import Status, StepStarted
from conveyor.engine.step_types import PostStep, StepOutcome
from conveyor.executors.local import LocalExecutor
from tests.engine.helpers import run_yaml


def stateful_action(host, step, scope, contexts, step_env):
    word = str(step.with_.get("word", ""))
    env = {**host.env_context(scope), **step_env, "INPUT_WORD": word}
    script = 'echo "main $INPUT_WORD"; echo "word=$INPUT_WORD" >> "$GITHUB_STATE"'
    script += '; echo "said=$INPUT_WORD" >> "$GITHUB_OUTPUT"'
    outcome = host.run_process(step, scope, ["bash", "-c", script], env)

    def post(index: int) -> StepOutcome:
        post_env = {**env, **{f"STATE_{k}": v for k, v in outcome.state.items()}}
        argv = ["bash", "-c", 'echo "post $STATE_word"']
        return host.run_process(step, scope, argv, post_env, log_index=index)

    host.add_post_step(PostStep(f"stateful {word}", post, step.with_.get("post-if", "success()")))
    return outcome


@pytest.fixture
def stateful(monkeypatch):
    monkeypatch.setitem(actions.BUILT_IN, "test/stateful", stateful_action)


def test_post_steps_run_last_first_with_the_state_their_main_saved(tmp_path, stateful):
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - id: one
                uses: test/stateful@v1
                with: {word: first}
              - uses: test/stateful@v1
                with: {word: second}
              - run: echo "saw ${{ steps.one.outputs.said }}"
        """,
        str(tmp_path),
        executor=LocalExecutor(),
    )
    assert outcome.result.status == Status.SUCCESS
    steps = outcome.result.jobs["a"].steps
    assert [step.name for step in steps[3:]] == ["Post stateful second", "Post stateful first"]
    assert outcome.events.log("a", 0) == ["main first"]
    assert outcome.events.log("a", 2) == ["saw first"]
    assert outcome.events.log("a", 3) == ["post second"]
    assert outcome.events.log("a", 4) == ["post first"]
    started = [e.step for e in outcome.events.events if isinstance(e, StepStarted)]
    assert started == [0, 1, 2, 3, 4]


def test_a_post_step_follows_its_condition_after_a_failure(tmp_path, stateful):
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: test/stateful@v1
                with: {word: saver}
              - uses: test/stateful@v1
                with: {word: cleaner, post-if: always()}
              - run: exit 3
        """,
        str(tmp_path),
        executor=LocalExecutor(),
    )
    assert outcome.result.status == Status.FAILURE
    steps = outcome.result.jobs["a"].steps
    assert [(s.name, s.status) for s in steps[3:]] == [
        ("Post stateful cleaner", Status.SUCCESS),
        ("Post stateful saver", Status.SKIPPED),
    ]
    assert outcome.events.log("a", 3) == ["post cleaner"]
    assert outcome.result.jobs["a"].reason == "step 'Run exit 3' failed with exit code 3"
