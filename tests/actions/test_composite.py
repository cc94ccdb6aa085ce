"""Local composite actions and actions/checkout, run by the engine with real bash."""

from __future__ import annotations

import textwrap

from conveyor.engine.events import Annotation, Status
from conveyor.executors.local import LocalExecutor
from tests.engine.helpers import run_yaml


def write_action(workspace, relative: str, text: str) -> None:
    directory = workspace / relative
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "action.yml").write_text(textwrap.dedent(text))


GREET = """
    name: Greet
    inputs:
      who:
        description: whom to greet
        required: true
      punctuation:
        description: the end
        default: "!"
    outputs:
      message:
        description: what was said
        value: ${{ steps.say.outputs.message }}
    runs:
      using: composite
      steps:
        - id: say
          shell: bash
          run: |
            msg="Hello ${{ inputs.who }}${{ inputs.punctuation }}"
            echo "$msg from $(basename "$GITHUB_ACTION_PATH") with $CALLER_ENV"
            echo "message=$msg" >> "$GITHUB_OUTPUT"
        - if: inputs.who == 'nobody'
          shell: bash
          run: echo skipped inside the action
    """


def test_inputs_defaults_env_outputs_and_log_belong_to_the_uses_step(tmp_path):
    write_action(tmp_path, ".github/actions/greet", GREET)
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: actions/checkout@v4
              - id: hi
                uses: ./.github/actions/greet
                with:
                  who: ${{ github.actor }}
                env:
                  CALLER_ENV: from-caller
              - run: echo "said ${{ steps.hi.outputs.message }}"
        """,
        str(tmp_path),
        executor=LocalExecutor(),
    )
    assert outcome.result.status == Status.SUCCESS
    assert outcome.result.jobs["a"].steps[1].outputs == {"message": "Hello dev!"}
    log = outcome.events.log("a", 1)
    assert "Hello dev! from greet with from-caller" in log
    assert "skipped inside the action" not in log
    assert outcome.events.log("a", 2) == ["said Hello dev!"]
    checkout_log = outcome.events.log("a", 0)
    assert len(checkout_log) == 1 and "already checked out" in checkout_log[0]


def test_nested_composites_and_a_failing_inner_step(tmp_path):
    write_action(
        tmp_path,
        "actions/inner",
        """
        name: Inner
        inputs:
          code: {description: exit code, default: "0"}
        outputs:
          seen: {description: x, value: "${{ steps.s.outputs.seen }}"}
        runs:
          using: composite
          steps:
            - id: s
              shell: bash
              run: |
                echo "seen=inner-${{ inputs.code }}" >> "$GITHUB_OUTPUT"
                exit ${{ inputs.code }}
            - if: failure()
              shell: bash
              run: echo inner failure handler
    """,
    )
    write_action(
        tmp_path,
        "actions/outer",
        """
        name: Outer
        inputs:
          code: {description: exit code, default: "0"}
        outputs:
          seen: {description: x, value: "${{ steps.in.outputs.seen }}"}
        runs:
          using: composite
          steps:
            - id: in
              uses: ./actions/inner
              with:
                code: ${{ inputs.code }}
    """,
    )
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - id: ok
                uses: ./actions/outer
              - id: bad
                uses: ./actions/outer
                with: {code: "3"}
              - run: echo not reached
        """,
        str(tmp_path),
        executor=LocalExecutor(),
    )
    steps = outcome.result.jobs["a"].steps
    assert (steps[0].status, steps[0].outputs) == (Status.SUCCESS, {"seen": "inner-0"})
    assert steps[1].status == Status.FAILURE
    assert "exit code 3" in (steps[1].reason or "")
    assert steps[2].status == Status.SKIPPED
    assert "inner failure handler" in outcome.events.log("a", 1)


def test_missing_or_invalid_action_fails_the_step_with_a_clear_reason(tmp_path):
    write_action(
        tmp_path,
        "actions/broken",
        """
        name: Broken
        runs:
          using: node8
          main: index.js
    """,
    )
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: ./actions/missing
              - if: always()
                uses: ./actions/broken
        """,
        str(tmp_path),
        executor=LocalExecutor(),
    )
    missing, broken = outcome.result.jobs["a"].steps
    assert missing.status == Status.FAILURE
    assert "no action.yml" in (missing.reason or "") and "./actions/missing" in missing.reason
    assert broken.status == Status.FAILURE and "node8" in (broken.reason or "")
    assert outcome.result.status == Status.FAILURE


def test_unexpected_input_warns_and_step_env_with_secrets_is_masked(tmp_path):
    write_action(
        tmp_path,
        "actions/echo",
        """
        name: Echo
        inputs:
          text: {description: what to echo}
        runs:
          using: composite
          steps:
            - shell: bash
              run: echo "${{ inputs.text }}"
    """,
    )
    outcome = run_yaml(
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: ./actions/echo
                with:
                  text: token ${{ secrets.T }}
                  colour: blue
        """,
        str(tmp_path),
        executor=LocalExecutor(),
        secrets={"T": "abc-secret-123"},
    )
    assert "token ***" in outcome.events.log("a", 0)
    warnings = [e for e in outcome.events.events if isinstance(e, Annotation)]
    assert warnings and "colour" in warnings[0].message


def test_an_action_that_uses_itself_stops_with_a_reason(tmp_path):
    write_action(
        tmp_path,
        "actions/loop",
        """
        name: Loop
        runs:
          using: composite
          steps:
            - uses: ./actions/loop
    """,
    )
    outcome = run_yaml(
        """
        on: push
        jobs:
          a: {runs-on: x, steps: [{uses: ./actions/loop}]}
        """,
        str(tmp_path),
        executor=LocalExecutor(),
    )
    step = outcome.result.jobs["a"].steps[0]
    assert step.status == Status.FAILURE and "nest more than" in (step.reason or "")
