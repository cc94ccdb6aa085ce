"""actions/github-script run by the machine's real node: core, context, exec, glob, io, github."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from conveyor.engine.events import Annotation, Status, StepSummary
from conveyor.executors.local import LocalExecutor
from tests.engine.helpers import Outcome, run_yaml

pytestmark = pytest.mark.skipif(
    shutil.which("node", path="/usr/local/bin:/usr/bin") is None, reason="needs node"
)


def run_steps(
    tmp_path: Path, steps: str, files: dict[str, str] | None = None, **options
) -> Outcome:
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    for name, text in (files or {}).items():
        (workspace / name).write_text(text)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    workflow = "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n" + textwrap.indent(
        textwrap.dedent(steps), "      "
    )
    return run_yaml(
        workflow,
        str(workspace),
        executor=LocalExecutor(),
        base_env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
        store_dir=str(tmp_path / "store"),
        **options,
    )


def log(outcome: Outcome, step: int) -> str:
    return "\n".join(outcome.events.log("t", step))


def outputs(outcome: Outcome, step: int) -> dict[str, str]:
    return outcome.result.jobs["t"].steps[step].outputs


def assert_ok(outcome: Outcome) -> None:
    assert outcome.result.status == Status.SUCCESS, outcome.events.log("t")


def test_set_output_and_the_result_in_json_and_string(tmp_path):
    outcome = run_steps(
        tmp_path,
        """
        - id: json
          uses: actions/github-script@v7
          with:
            script: |
              core.setOutput('greeting', 'hello\\nworld')
              return {answer: 42}
        - id: string
          uses: actions/github-script@v7
          with:
            result-encoding: string
            factor: 7
            script: return "plain " + (6 * Number(core.getInput('factor')))
        - run: echo "$JSON $STRING"
          env:
            JSON: ${{ steps.json.outputs.result }}
            STRING: ${{ steps.string.outputs.result }}
        """,
    )
    assert_ok(outcome)
    assert outputs(outcome, 0) == {"greeting": "hello\nworld", "result": '{"answer":42}'}
    assert outputs(outcome, 1) == {"result": "plain 42"}
    assert log(outcome, 2) == '{"answer":42} plain 42'


def test_set_failed_fails_the_step_and_a_thrown_error_too(tmp_path):
    outcome = run_steps(
        tmp_path,
        """
        - uses: actions/github-script@v7
          continue-on-error: true
          with:
            script: core.setFailed('the check did not pass')
        - uses: actions/github-script@v7
          with:
            script: throw new Error('boom')
        """,
    )
    assert outcome.result.status == Status.FAILURE
    steps = outcome.result.jobs["t"].steps
    assert steps[0].outcome == Status.FAILURE and steps[1].outcome == Status.FAILURE
    errors = [e.message for e in outcome.events.events if isinstance(e, Annotation)]
    assert "the check did not pass" in errors
    assert any("Unhandled error: Error: boom" in message for message in errors)


def test_export_variable_add_path_and_state_reach_later_steps(tmp_path):
    outcome = run_steps(
        tmp_path,
        """
        - uses: actions/github-script@v7
          with:
            script: |
              core.exportVariable('GREETING', 'from the script')
              core.addPath('/opt/from-script/bin')
              core.info('info line')
              core.warning('careful', {file: 'a.py', startLine: 3})
        - run: |
            echo "$GREETING" && echo "$PATH" | cut -d: -f1
        """,
    )
    assert_ok(outcome)
    assert "info line" in log(outcome, 0)
    assert log(outcome, 1).splitlines() == ["from the script", "/opt/from-script/bin"]
    warnings = [e for e in outcome.events.events if isinstance(e, Annotation)]
    assert [(w.level, w.message) for w in warnings] == [("warning", "careful")]


def test_context_describes_the_run(tmp_path):
    outcome = run_steps(
        tmp_path,
        """
        - id: ctx
          uses: actions/github-script@v7
          with:
            script: |
              const {owner, repo} = context.repo
              return [owner, repo, context.eventName, context.sha, context.ref,
                      context.payload.head_commit.message, context.issue.number ?? null]
        """,
        event_name="push",
        event_payload={"head_commit": {"message": "fix it"}},
    )
    assert_ok(outcome)
    assert outputs(outcome, 0)["result"] == (
        '["acme","widgets","push","1234567890abcdef1234567890abcdef12345678",'
        '"refs/heads/feature","fix it",null]'
    )


def test_set_secret_masks_the_value_in_later_output(tmp_path):
    outcome = run_steps(
        tmp_path,
        """
        - uses: actions/github-script@v7
          with:
            script: |
              const token = 'tok-' + 'Zq81xW'
              core.setSecret(token)
              core.info('the token is ' + token)
              core.exportVariable('TOKEN', token)
        - run: echo "again $TOKEN"
        """,
    )
    assert_ok(outcome)
    everything = "\n".join(outcome.events.log("t"))
    assert "tok-Zq81xW" not in everything
    assert "the token is ***" in everything and "again ***" in everything


def test_github_api_calls_fail_clearly(tmp_path):
    outcome = run_steps(
        tmp_path,
        """
        - uses: actions/github-script@v7
          with:
            github-token: not-a-real-token
            retries: 3
            script: |
              await github.rest.issues.createComment({...context.repo, issue_number: 1, body: 'hi'})
        """,
    )
    assert outcome.result.status == Status.FAILURE
    text = log(outcome, 0)
    assert "github.rest.issues.createComment(): the GitHub API is not available" in text
    assert "github-token is accepted" in text


def test_exec_glob_io_and_require_work_in_the_workspace(tmp_path):
    outcome = run_steps(
        tmp_path,
        """
        - id: tools
          uses: actions/github-script@v7
          with:
            script: |
              const helper = require('./helper.js')
              await io.mkdirP('out/deep')
              await io.cp('a.txt', 'out/deep')
              const globber = await glob.create('**/*.txt\\n!b.txt')
              const files = (await globber.glob()).map(f => f.slice(process.cwd().length + 1))
              const {stdout} = await exec.getExecOutput('echo', ['from', 'exec'], {silent: true})
              await core.summary.addHeading('Report').addRaw('all good').write()
              const which = await io.which('sh')
              return {helper: helper.name, files, stdout: stdout.trim(), which}
        """,
        files={"helper.js": "module.exports = {name: 'helper'}\n", "a.txt": "a", "b.txt": "b"},
    )
    assert_ok(outcome)
    assert outputs(outcome, 0)["result"] == (
        '{"helper":"helper","files":["a.txt","out/deep/a.txt"],'
        '"stdout":"from exec","which":"/usr/bin/sh"}'
    )
    summaries = [e.markdown for e in outcome.events.events if isinstance(e, StepSummary)]
    assert summaries == ["<h1>Report</h1>\nall good"]


def test_bad_inputs_are_clear_errors(tmp_path):
    outcome = run_steps(
        tmp_path,
        """
        - uses: actions/github-script@v7
          continue-on-error: true
        - uses: actions/github-script@v7
          continue-on-error: true
          with: {script: "return 1", result-encoding: yaml}
        - uses: actions/github-script@v7
          with: {script: "return 1", retries: many}
        """,
    )
    assert "input required and not supplied: script" in log(outcome, 0)
    assert '"result-encoding" must be either "string" or "json"' in log(outcome, 1)
    assert "retries must be a whole number, got 'many'" in log(outcome, 2)
