"""Reusable workflows run by the engine with real processes: local and remote calls,
typed inputs, secrets, outputs, nesting, cycles, matrices over a call."""

from __future__ import annotations

import textwrap
from pathlib import Path

from conveyor.engine.events import JobFinished, JobStarted, RunStarted, Status
from conveyor.engine.runner import RunOptions, run_workflow
from conveyor.executors.local import LocalExecutor
from conveyor.workflow.load import parse_workflow
from tests.engine.helpers import GIT, EventLog, Outcome
from tests.helpers import git


def write(workspace: Path, name: str, text: str) -> None:
    path = workspace / ".github" / "workflows" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def run_caller(workspace: Path, text: str, **options) -> Outcome:
    write(workspace, "ci.yml", text)
    workflow = parse_workflow(textwrap.dedent(text), ".github/workflows/ci.yml")
    options.setdefault("git", GIT)
    options.setdefault("max_parallel_jobs", 4)
    options.setdefault("store_dir", str(workspace.parent / "store"))
    executor = LocalExecutor()
    sink = EventLog()
    result = run_workflow(workflow, RunOptions(workspace=str(workspace), **options), executor, sink)
    return Outcome(result, sink, executor)


TESTS_WORKFLOW = """\
    name: Reusable tests
    on:
      workflow_call:
        inputs:
          python-version: {type: string, required: true}
          coverage: {type: boolean, default: false}
          shards: {type: number}
          label: {type: string, default: "from-default"}
        secrets:
          token: {required: true}
        outputs:
          result:
            value: ${{ jobs.test.outputs.result }}
          shards-seen:
            value: ${{ jobs.report.outputs.shards }}
    env:
      CALLED_ENV: called-level
    jobs:
      test:
        runs-on: ubuntu-latest
        outputs:
          result: ${{ steps.run.outputs.result }}
        steps:
          - id: run
            run: |
              echo "python=${{ inputs.python-version }} coverage=${{ inputs.coverage }}"
              echo "coverage-is-bool=${{ inputs.coverage == true }} shards=${{ inputs.shards }}"
              echo "label=${{ inputs.label }} workflow=${{ github.workflow }} job=${{ github.job }}"
              echo "token=[${{ secrets.token }}] other=[${{ secrets.OTHER }}]"
              echo "caller-env=[$CALLER_ENV] called-env=[$CALLED_ENV]"
              echo "result=passed-${{ inputs.python-version }}" >> "$GITHUB_OUTPUT"
      report:
        needs: test
        runs-on: ubuntu-latest
        outputs:
          shards: ${{ steps.count.outputs.shards }}
        steps:
          - id: count
            run: |
              echo "saw ${{ needs.test.outputs.result }}"
              echo "shards=${{ inputs.shards }}" >> "$GITHUB_OUTPUT"
    """


def test_a_local_call_runs_its_jobs_as_caller_slash_job_with_inputs_secrets_and_outputs(
    tmp_path,
):
    workspace = tmp_path / "repo"
    write(workspace, "tests.yml", TESTS_WORKFLOW)
    outcome = run_caller(
        workspace,
        """\
        name: CI
        on: push
        env:
          CALLER_ENV: caller-level
        jobs:
          call:
            uses: ./.github/workflows/tests.yml
            with:
              python-version: "3.12"
              coverage: true
              shards: 4
            secrets:
              token: ${{ secrets.TOKEN }}-suffix
          after:
            needs: call
            runs-on: ubuntu-latest
            steps:
              - run: echo "got ${{ needs.call.outputs.result }} ${{ needs.call.result }}"
        """,
        secrets={"TOKEN": "tok-123", "OTHER": "other-456"},
    )
    assert outcome.result.status == Status.SUCCESS, outcome.result.reason
    assert list(outcome.result.jobs) == ["call / test", "call / report", "after"]
    log = outcome.events.log("call / test")
    assert "python=3.12 coverage=true" in log
    assert "coverage-is-bool=true shards=4" in log
    # a default applies; github is the caller's (its workflow name), job the called one's
    assert "label=from-default workflow=CI job=test" in log
    # only what is passed, masked; never the caller's other secrets
    assert "token=[***] other=[]" in log
    assert "caller-env=[] called-env=[called-level]" in log
    assert "saw passed-3.12" in outcome.events.log("call / report")
    assert "got passed-3.12 success" in outcome.events.log("after")
    started = [e for e in outcome.events.events if isinstance(e, JobStarted)]
    assert {(e.job_key, e.job_id, e.name) for e in started} == {
        ("call / test", "call", "call / test"),
        ("call / report", "call", "call / report"),
        ("after", "after", "after"),
    }
    run_started = next(e for e in outcome.events.events if isinstance(e, RunStarted))
    assert run_started.jobs == ["call", "after"]


def test_secrets_inherit_passes_every_secret_and_they_stay_masked(tmp_path):
    workspace = tmp_path / "repo"
    write(workspace, "tests.yml", TESTS_WORKFLOW)
    outcome = run_caller(
        workspace,
        """\
        on: push
        jobs:
          call:
            name: Tests
            uses: ./.github/workflows/tests.yml
            with: {python-version: "3.11"}
            secrets: inherit
        """,
        secrets={"token": "tok-123", "OTHER": "other-456"},
    )
    assert outcome.result.status == Status.SUCCESS, outcome.result.reason
    log = outcome.events.log("call / test")
    assert "token=[***] other=[***]" in log
    assert "python=3.11 coverage=false" in log
    assert outcome.result.jobs["call / test"].name == "Tests / test"


def test_a_fork_run_without_secrets_passes_none_even_with_inherit(tmp_path):
    # The server gives a fork's run no secrets at all; inherit then has nothing to pass.
    workspace = tmp_path / "repo"
    write(
        workspace,
        "tests.yml",
        TESTS_WORKFLOW.replace("required: true}\n    outputs", "required: false}\n    outputs"),
    )
    outcome = run_caller(
        workspace,
        """\
        on: pull_request
        jobs:
          call:
            uses: ./.github/workflows/tests.yml
            with: {python-version: "3.11"}
            secrets: inherit
        """,
        event_name="pull_request",
        secrets={},
    )
    assert outcome.result.status == Status.SUCCESS, outcome.result.reason
    assert "token=[] other=[]" in outcome.events.log("call / test")


def test_typed_inputs_are_checked_at_the_callers_with(tmp_path):
    workspace = tmp_path / "repo"
    write(workspace, "tests.yml", TESTS_WORKFLOW)
    outcome = run_caller(
        workspace,
        """\
        on: push
        jobs:
          wrong-type:
            uses: ./.github/workflows/tests.yml
            with:
              python-version: "3.12"
              coverage: "yes"
            secrets: inherit
          number-from-expression:
            uses: ./.github/workflows/tests.yml
            with:
              python-version: "3.12"
              shards: ${{ github.sha }}
            secrets: inherit
          missing:
            uses: ./.github/workflows/tests.yml
            with:
              coverage: false
            secrets: inherit
          unknown:
            uses: ./.github/workflows/tests.yml
            with:
              python-version: "3.12"
              colour: blue
            secrets: inherit
          no-token:
            uses: ./.github/workflows/tests.yml
            with:
              python-version: "3.12"
          secret-in-with:
            uses: ./.github/workflows/tests.yml
            with:
              python-version: ${{ secrets.token }}
            secrets: inherit
        """,
        secrets={"token": "tok-abc"},
    )
    jobs = outcome.result.jobs
    assert outcome.result.status == Status.FAILURE
    assert set(jobs) == {
        "wrong-type",
        "number-from-expression",
        "missing",
        "unknown",
        "no-token",
        "secret-in-with",
    }
    # as on GitHub, with: sees no secrets
    assert jobs["secret-in-with"].reason == (
        ".github/workflows/ci.yml:33:23: with.python-version: Unrecognized named-value: 'secrets'"
    )
    assert jobs["wrong-type"].reason == (
        ".github/workflows/ci.yml:7:17: input 'coverage' of .github/workflows/tests.yml "
        "is a boolean; got the string 'yes'"
    )
    assert jobs["number-from-expression"].reason.startswith(
        ".github/workflows/ci.yml:13:15: input 'shards' of .github/workflows/tests.yml "
        "is a number; got the string '1234567890"
    )
    assert jobs["missing"].reason == (
        ".github/workflows/ci.yml:18:7: .github/workflows/tests.yml requires input "
        "'python-version', which job 'missing' does not pass"
    )
    assert jobs["unknown"].reason.startswith(
        ".github/workflows/ci.yml:24:15: input 'colour' is not defined in "
        ".github/workflows/tests.yml (its inputs: python-version, coverage, shards, label)"
    )
    assert "requires secret 'token', which job 'no-token' does not pass" in jobs["no-token"].reason
    assert all(job.status == Status.FAILURE for job in jobs.values())


def test_a_matrix_over_a_call_runs_one_call_per_combination(tmp_path):
    workspace = tmp_path / "repo"
    write(workspace, "tests.yml", TESTS_WORKFLOW)
    outcome = run_caller(
        workspace,
        """\
        on: push
        jobs:
          call:
            strategy:
              matrix:
                python: ["3.11", "3.12"]
            uses: ./.github/workflows/tests.yml
            with:
              python-version: ${{ matrix.python }}
            secrets: inherit
          after:
            needs: call
            runs-on: x
            steps:
              - run: echo "last=${{ needs.call.outputs.result }}"
        """,
        secrets={"token": "tok-abc"},
    )
    assert outcome.result.status == Status.SUCCESS, outcome.result.reason
    assert list(outcome.result.jobs) == [
        "call (3.11) / test",
        "call (3.11) / report",
        "call (3.12) / test",
        "call (3.12) / report",
        "after",
    ]
    assert "python=3.12 coverage=false" in outcome.events.log("call (3.12) / test")
    (last,) = [line for line in outcome.events.log("after") if line.startswith("last=")]
    assert last in ("last=passed-3.11", "last=passed-3.12")


def test_a_job_needing_the_caller_waits_for_all_its_jobs(tmp_path):
    workspace = tmp_path / "repo"
    write(
        workspace,
        "slow.yml",
        """\
        on: workflow_call
        jobs:
          first:
            runs-on: x
            steps:
              - run: sleep 0.3
          second:
            needs: first
            runs-on: x
            steps:
              - run: sleep 0.3
        """,
    )
    outcome = run_caller(
        workspace,
        """\
        on: push
        jobs:
          call:
            uses: ./.github/workflows/slow.yml
          after:
            needs: call
            runs-on: x
            steps:
              - run: echo done
        """,
    )
    assert outcome.result.status == Status.SUCCESS
    assert outcome.events.order() == [
        "start:call / first",
        "end:call / first",
        "start:call / second",
        "end:call / second",
        "start:after",
        "end:after",
    ]


def test_a_failed_called_job_fails_the_call_and_skips_what_needs_it(tmp_path):
    workspace = tmp_path / "repo"
    write(
        workspace,
        "fails.yml",
        """\
        on: workflow_call
        jobs:
          broken:
            runs-on: x
            steps:
              - run: exit 3
        """,
    )
    outcome = run_caller(
        workspace,
        """\
        on: push
        jobs:
          call:
            uses: ./.github/workflows/fails.yml
          after:
            needs: call
            runs-on: x
            steps:
              - run: echo never
          report:
            needs: call
            if: always()
            runs-on: x
            steps:
              - run: echo "call was ${{ needs.call.result }}"
        """,
    )
    assert outcome.result.status == Status.FAILURE
    assert outcome.result.jobs["call / broken"].status == Status.FAILURE
    assert outcome.result.jobs["after"].status == Status.SKIPPED
    assert "call was failure" in outcome.events.log("report")
    assert outcome.result.reason.startswith("job 'call / broken' failed")


def chain_of_calls(workspace: Path, levels: int) -> None:
    """level1.yml calls level2.yml ... ; the last one runs a step."""
    for number in range(1, levels + 1):
        if number < levels:
            body = f"""\
                on: workflow_call
                jobs:
                  down:
                    uses: ./.github/workflows/level{number + 1}.yml
                """
        else:
            body = """\
                on: workflow_call
                jobs:
                  bottom:
                    runs-on: x
                    steps:
                      - run: echo reached the bottom
                """
        write(workspace, f"level{number}.yml", body)


CALL_LEVEL_1 = """\
    on: push
    jobs:
      top:
        uses: ./.github/workflows/level1.yml
    """


def test_nine_levels_of_reusable_workflows_run(tmp_path):
    workspace = tmp_path / "repo"
    chain_of_calls(workspace, 9)
    outcome = run_caller(workspace, CALL_LEVEL_1)
    assert outcome.result.status == Status.SUCCESS, outcome.result.reason
    key = "top / " + "down / " * 8 + "bottom"
    assert list(outcome.result.jobs) == [key]
    assert "reached the bottom" in outcome.events.log(key)
    assert outcome.result.jobs[key].job_id == "top"


def test_a_tenth_level_is_refused_at_the_call_that_exceeds_the_limit(tmp_path):
    workspace = tmp_path / "repo"
    chain_of_calls(workspace, 10)
    outcome = run_caller(workspace, CALL_LEVEL_1)
    assert outcome.result.status == Status.FAILURE
    key = "top" + " / down" * 9
    reason = outcome.result.jobs[key].reason
    assert reason.startswith(".github/workflows/level9.yml:4:11: job 'down' calls ")
    assert "at most 10 levels of workflows" in reason


def test_a_workflow_calling_itself_is_a_cycle(tmp_path):
    workspace = tmp_path / "repo"
    write(
        workspace,
        "again.yml",
        """\
        on: workflow_call
        jobs:
          again:
            uses: ./.github/workflows/again.yml
        """,
    )
    outcome = run_caller(
        workspace,
        """\
        on: [push, workflow_call]
        jobs:
          me:
            uses: ./.github/workflows/ci.yml
          other:
            uses: ./.github/workflows/again.yml
        """,
    )
    assert outcome.result.status == Status.FAILURE
    assert "a workflow cannot call itself" in outcome.result.jobs["me"].reason
    assert "(.github/workflows/ci.yml → .github/workflows/ci.yml)" in (
        outcome.result.jobs["me"].reason
    )
    reason = outcome.result.jobs["other / again"].reason
    assert reason.startswith(".github/workflows/again.yml:4:11: job 'again' calls")
    assert "a workflow cannot call itself" in reason


def test_a_called_workflow_that_is_a_link_out_of_the_repository_is_refused(tmp_path):
    workspace = tmp_path / "repo"
    secret_file = tmp_path / "outside.yml"
    secret_file.write_text("on: workflow_call\njobs:\n  x: {runs-on: x, steps: [{run: echo}]}\n")
    (workspace / ".github" / "workflows").mkdir(parents=True)
    (workspace / ".github" / "workflows" / "link.yml").symlink_to(secret_file)
    write(workspace, "plain.yml", "on: push\njobs:\n  x: {runs-on: x, steps: [{run: echo}]}\n")
    outcome = run_caller(
        workspace,
        """\
        on: push
        jobs:
          call:
            uses: ./.github/workflows/link.yml
          missing:
            uses: ./.github/workflows/missing.yml
          not-reusable:
            uses: ./.github/workflows/plain.yml
        """,
    )
    jobs = outcome.result.jobs
    assert "refused: .github/workflows/link.yml goes through a symbolic link" in (
        jobs["call"].reason
    )
    assert jobs["missing"].reason == (
        ".github/workflows/ci.yml:6:11: job 'missing' calls ./.github/workflows/missing.yml: "
        ".github/workflows/missing.yml does not exist"
    )
    assert "its 'on' has no workflow_call" in jobs["not-reusable"].reason


def test_only_jobs_naming_the_caller_runs_its_called_jobs(tmp_path):
    workspace = tmp_path / "repo"
    write(workspace, "tests.yml", TESTS_WORKFLOW)
    outcome = run_caller(
        workspace,
        """\
        on: push
        jobs:
          lint:
            runs-on: x
            steps: [{run: echo lint}]
          call:
            uses: ./.github/workflows/tests.yml
            with: {python-version: "3.12"}
            secrets: inherit
        """,
        only_jobs=["call"],
        secrets={"token": "tok-abc"},
    )
    assert outcome.result.status == Status.SUCCESS
    assert list(outcome.result.jobs) == ["call / test", "call / report"]


def make_remote_workflows(forge: Path) -> str:
    """A bare repository octo/shared with a reusable workflow that calls a local one."""
    work = forge / "work"
    (work / ".github" / "workflows").mkdir(parents=True)
    (work / ".github" / "workflows" / "build.yml").write_text(
        textwrap.dedent(
            """\
            on:
              workflow_call:
                inputs:
                  target: {type: string, required: true}
                outputs:
                  artifact:
                    value: ${{ jobs.inner.outputs.artifact }}
            jobs:
              compile:
                runs-on: x
                steps:
                  - run: echo "compiling ${{ inputs.target }} token=[${{ secrets.token }}]"
              inner:
                needs: compile
                uses: ./.github/workflows/package.yml
                with:
                  name: ${{ inputs.target }}
                secrets: inherit
            """
        )
    )
    (work / ".github" / "workflows" / "package.yml").write_text(
        textwrap.dedent(
            """\
            on:
              workflow_call:
                inputs:
                  name: {type: string, required: true}
                outputs:
                  artifact:
                    value: ${{ jobs.pack.outputs.file }}
            jobs:
              pack:
                runs-on: x
                outputs:
                  file: ${{ steps.p.outputs.file }}
                steps:
                  - id: p
                    run: |
                      echo "packing token=[${{ secrets.token }}]"
                      echo "file=${{ inputs.name }}.tar.gz" >> "$GITHUB_OUTPUT"
            """
        )
    )
    git("init", "--quiet", "--initial-branch=main", cwd=work)
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "shared workflows", cwd=work)
    git("tag", "v1", cwd=work)
    (forge / "octo").mkdir()
    git("clone", "--quiet", "--bare", str(work), str(forge / "octo" / "shared.git"), cwd=forge)
    return git("rev-parse", "HEAD", cwd=work).strip()


def test_a_remote_call_is_fetched_and_its_own_local_calls_come_from_its_repository(tmp_path):
    forge = tmp_path / "forge"
    forge.mkdir()
    sha = make_remote_workflows(forge)
    workspace = tmp_path / "repo"
    workspace.mkdir()
    text = """\
        on: push
        jobs:
          build:
            uses: octo/shared/.github/workflows/build.yml@v1
            with:
              target: web
            secrets: inherit
          ship:
            needs: build
            runs-on: x
            steps:
              - run: echo "shipping ${{ needs.build.outputs.artifact }}"
        """
    outcome = run_caller(workspace, text, actions_url=str(forge), secrets={"token": "tok-remote"})
    assert outcome.result.status == Status.SUCCESS, outcome.result.reason
    assert list(outcome.result.jobs) == ["build / compile", "build / inner / pack", "ship"]
    assert "compiling web token=[***]" in outcome.events.log("build / compile")
    assert "packing token=[***]" in outcome.events.log("build / inner / pack")
    assert "shipping web.tar.gz" in outcome.events.log("ship")
    assert (tmp_path / "store" / "actions" / "octo" / "shared" / sha).is_dir()
    # a pinned SHA works too, with the forge gone (the store has it)
    pinned = text.replace("@v1", f"@{sha}")
    again = run_caller(workspace, pinned, actions_url=str(tmp_path / "gone"), secrets={})
    assert again.result.status == Status.SUCCESS, again.result.reason


def test_a_remote_call_that_cannot_be_fetched_fails_the_caller_with_the_reason(tmp_path):
    workspace = tmp_path / "repo"
    workspace.mkdir()
    outcome = run_caller(
        workspace,
        """\
        on: push
        jobs:
          build:
            uses: octo/missing/.github/workflows/build.yml@v1
        """,
        actions_url=str(tmp_path / "forge"),
    )
    finished = [e for e in outcome.events.events if isinstance(e, JobFinished)]
    assert [(e.job_key, e.status) for e in finished] == [("build", Status.FAILURE)]
    assert finished[0].reason.startswith(
        ".github/workflows/ci.yml:4:11: job 'build' calls "
        "octo/missing/.github/workflows/build.yml@v1: cannot fetch it: could not fetch octo/missing"
    )


def test_the_pipeline_table_has_the_callers_row_made_of_its_called_jobs(tmp_path):
    from conveyor.engine.pipeline_status import PipelineTracker

    workspace = tmp_path / "repo"
    write(workspace, "tests.yml", TESTS_WORKFLOW)
    text = """\
        on: push
        jobs:
          call:
            name: Tests
            uses: ./.github/workflows/tests.yml
            with: {python-version: "3.12"}
            secrets: inherit
        """
    outcome = run_caller(workspace, text, secrets={"token": "tok-abc"})
    tracker = PipelineTracker(parse_workflow(textwrap.dedent(text), "ci.yml"))
    for event in outcome.events.events:
        tracker.emit(event)
    row, end = tracker.table()
    assert end.next_step == "No further steps"
    assert (row.action, row.command, row.next_step) == (
        "Tests",
        "uses: ./.github/workflows/tests.yml",
        "Pipeline Complete",
    )
    # the last line of the called jobs' output sums the row up
    assert row.result.startswith("Succeeded in ") and "saw passed-3.12" in row.result
    assert tracker.pipeline_status == "Tests passed"


def test_a_fifty_first_distinct_called_workflow_is_refused(tmp_path):
    workspace = tmp_path / "repo"
    callers = []
    for number in range(1, 52):
        write(
            workspace,
            f"w{number}.yml",
            "on: workflow_call\njobs:\n  never:\n    if: false\n    runs-on: x\n"
            "    steps: [{run: echo}]\n",
        )
        callers.append(f"  c{number}:\n    uses: ./.github/workflows/w{number}.yml\n")
    # the same workflow called twice counts once
    callers.append("  again:\n    uses: ./.github/workflows/w1.yml\n")
    outcome = run_caller(workspace, "on: push\njobs:\n" + "".join(callers))
    failed = {key: job.reason for key, job in outcome.result.jobs.items() if job.reason}
    assert list(failed) == ["c51"], failed
    assert "more than 50 distinct reusable workflows" in failed["c51"]
    assert outcome.result.jobs["again / never"].status == Status.SKIPPED


def test_fail_fast_over_a_matrix_of_calls_cancels_the_other_calls_jobs(tmp_path):
    import time

    workspace = tmp_path / "repo"
    write(
        workspace,
        "leg.yml",
        """\
        on:
          workflow_call:
            inputs:
              fail: {type: boolean, required: true}
        jobs:
          work:
            runs-on: x
            steps:
              - run: |
                  if ${{ inputs.fail }}; then exit 1; fi
                  sleep 20
          later:
            needs: work
            runs-on: x
            steps:
              - run: echo never
        """,
    )
    started = time.monotonic()
    outcome = run_caller(
        workspace,
        """\
        on: push
        jobs:
          legs:
            strategy:
              matrix:
                fail: [true, false]
            uses: ./.github/workflows/leg.yml
            with:
              fail: ${{ matrix.fail }}
        """,
    )
    assert time.monotonic() - started < 15
    jobs = outcome.result.jobs
    assert jobs["legs (true) / work"].status == Status.FAILURE
    assert jobs["legs (false) / work"].status == Status.CANCELLED
    assert jobs["legs (false) / later"].status == Status.CANCELLED
    assert jobs["legs (true) / later"].status == Status.SKIPPED


def test_a_caller_takes_its_needs_outputs_in_with_and_if_and_a_false_if_skips_the_call(
    tmp_path,
):
    workspace = tmp_path / "repo"
    write(workspace, "tests.yml", TESTS_WORKFLOW)
    outcome = run_caller(
        workspace,
        """\
        on: push
        jobs:
          setup:
            runs-on: x
            outputs:
              version: ${{ steps.v.outputs.version }}
            steps:
              - id: v
                run: echo "version=3.13" >> "$GITHUB_OUTPUT"
          call:
            needs: setup
            if: needs.setup.outputs.version == '3.13'
            uses: ./.github/workflows/tests.yml
            with:
              python-version: ${{ needs.setup.outputs.version }}
            secrets: inherit
          not-called:
            needs: setup
            if: needs.setup.outputs.version == '2.7'
            uses: ./.github/workflows/tests.yml
            with:
              python-version: "2.7"
            secrets: inherit
        """,
        secrets={"token": "tok-abc"},
    )
    assert outcome.result.status == Status.SUCCESS, outcome.result.reason
    assert "python=3.13 coverage=false" in outcome.events.log("call / test")
    assert outcome.result.jobs["not-called"].status == Status.SKIPPED
    assert not [key for key in outcome.result.jobs if key.startswith("not-called /")]


def test_max_parallel_over_a_matrix_of_calls_runs_one_call_at_a_time(tmp_path):
    workspace = tmp_path / "repo"
    write(
        workspace,
        "leg.yml",
        """\
        on:
          workflow_call:
            inputs:
              n: {type: number, required: true}
        jobs:
          work:
            runs-on: x
            steps:
              - run: sleep 0.2
        """,
    )
    outcome = run_caller(
        workspace,
        """\
        on: push
        jobs:
          legs:
            strategy:
              max-parallel: 1
              matrix:
                n: [1, 2]
            uses: ./.github/workflows/leg.yml
            with:
              n: ${{ matrix.n }}
        """,
    )
    assert outcome.result.status == Status.SUCCESS, outcome.result.reason
    assert outcome.events.order() == [
        "start:legs (1) / work",
        "end:legs (1) / work",
        "start:legs (2) / work",
        "end:legs (2) / work",
    ]
