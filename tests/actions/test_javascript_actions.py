"""JavaScript actions fetched from real bare repositories and run with the machine's node."""

from __future__ import annotations

import shutil

import pytest

from conveyor.engine.events import Annotation, Status
from conveyor.executors.local import LocalExecutor
from tests.actions.forge import publish, publish_hello
from tests.engine.helpers import run_yaml

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node")

TOKEN = "ghs_token_for_the_test"


def run_with_forge(tmp_path, text, **options):
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    options.setdefault("store_dir", str(tmp_path / "store"))
    options.setdefault("actions_url", str(tmp_path / "forge"))
    return run_yaml(text, str(workspace), executor=LocalExecutor(), **options)


def test_a_tagged_and_a_pinned_javascript_action_run_pre_main_and_post(tmp_path):
    first, _ = publish_hello(tmp_path / "forge")
    outcome = run_with_forge(
        tmp_path,
        f"""
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - id: greet
                uses: octo/hello@v1
                with:
                  who: World
                  dry run: yes
              - run: |
                  echo "said: ${{{{ steps.greet.outputs.greeting }}}}"
                  echo "legacy: ${{{{ steps.greet.outputs.legacy }}}}"
                  [ "${{{{ steps.greet.outputs.token }}}}" = "$EXPECTED" ] && echo token-matches
                env:
                  EXPECTED: ${{{{ secrets.GITHUB_TOKEN }}}}
              - id: pinned
                uses: octo/hello@{first}
                with:
                  who: Pin
                  greeting: Hi
              - run: echo "pinned version ${{{{ steps.pinned.outputs.version }}}}"
        """,
        secrets={"GITHUB_TOKEN": TOKEN},
    )
    job = outcome.result.jobs["a"]
    assert outcome.result.status == Status.SUCCESS, job.reason
    log = outcome.events.log
    greet = log("a", 0)
    assert greet[0] == "pre for World"
    assert "Hello, World! (version 2)" in greet
    assert "state from pre: pre-World" in greet
    assert "dry run: yes" in greet
    # core.setSecret's value is masked from the line after it on, and in the post step.
    assert "the secret is ***" in greet
    assert not any("dlroW" in line for step in range(6) for line in log("a", step))
    assert "action: octo/hello@v1" in greet
    [action_path] = [line.split(": ", 1)[1] for line in greet if line.startswith("action path")]
    assert action_path.endswith("/_actions/octo/hello/v1")
    assert not action_path.startswith(str(tmp_path / "store"))
    assert log("a", 1) == ["said: Hello, World", "legacy: set the old way", "token-matches"]

    pinned = log("a", 2)
    assert "Hi, Pin! (version 1)" in pinned
    assert f"action: octo/hello@{first}" in pinned
    assert log("a", 3) == ["pinned version 1"]

    # Posts run last first, with what pre and main saved.
    assert [(step.name, step.status) for step in job.steps[4:]] == [
        (f"Post Run octo/hello@{first}", Status.SUCCESS),
        ("Post Run octo/hello@v1", Status.SUCCESS),
    ]
    assert log("a", 4) == ["post: pre-Pin, ***"]
    assert log("a", 5) == ["post: pre-World, ***"]


def test_inputs_missing_or_unknown_are_warned_about_and_a_failing_main_still_posts(tmp_path):
    publish_hello(tmp_path / "forge")
    outcome = run_with_forge(
        tmp_path,
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: octo/hello@v1
                with:
                  colour: red
              - uses: octo/hello@v1
                with:
                  who: nobody
        """,
    )
    job = outcome.result.jobs["a"]
    warnings = [
        event.message
        for event in outcome.events.events
        if isinstance(event, Annotation) and event.level == "warning"
    ]
    assert "octo/hello@v1: input required and not supplied: who" in warnings
    assert any("unexpected input(s) colour" in warning for warning in warnings)
    assert "Hello, ! (version 2)" in outcome.events.log("a", 0)
    assert job.steps[1].status == Status.FAILURE and job.steps[1].exit_code == 4
    # post-if defaults to always(): the failed step's post runs too.
    assert [step.name for step in job.steps[2:]] == ["Post Run octo/hello@v1"] * 2
    assert outcome.events.log("a", 2) == ["post: pre-nobody, ***"]


def test_pre_if_and_post_if_decide_whether_those_phases_run(tmp_path):
    publish(
        tmp_path / "forge",
        "octo/careful",
        [
            {
                "action.yml": """\
                    runs:
                      using: node16
                      pre: pre.js
                      pre-if: failure()
                      main: main.js
                      post: post.js
                      post-if: success()
                    """,
                "pre.js": "console.log('pre ran')\n",
                "main.js": "console.log('main ran')\n",
                "post.js": "console.log('post ran')\n",
            }
        ],
    )
    outcome = run_with_forge(
        tmp_path,
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: octo/careful@v1
              - run: exit 1
        """,
    )
    job = outcome.result.jobs["a"]
    assert outcome.events.log("a", 0) == ["main ran"]
    assert (job.steps[2].name, job.steps[2].status) == ("Post Run octo/careful@v1", Status.SKIPPED)


def test_a_local_node16_action_inside_a_composite_gets_its_own_action_path(tmp_path):
    workspace = tmp_path / "workspace"
    js = workspace / ".github/actions/js"
    js.mkdir(parents=True)
    (js / "action.yml").write_text(
        "inputs:\n  word: {default: plain}\noutputs:\n  echoed: {description: it}\n"
        "runs:\n  using: node16\n  main: index.js\n"
    )
    (js / "index.js").write_text(
        "const fs = require('fs');\n"
        "console.log(`js path ${process.env.GITHUB_ACTION_PATH} word ${process.env.INPUT_WORD}`);\n"
        "fs.appendFileSync(process.env.GITHUB_OUTPUT, `echoed=${process.env.INPUT_WORD}!\\n`);\n"
    )
    wrap = workspace / ".github/actions/wrap"
    wrap.mkdir(parents=True)
    (wrap / "action.yml").write_text(
        """\
runs:
  using: composite
  steps:
    - run: echo "composite path ${{ github.action_path }}"
      shell: bash
    - id: inner
      uses: ./.github/actions/js
      with:
        word: nested
    - run: echo "inner said ${{ steps.inner.outputs.echoed }}"
      shell: bash
"""
    )
    outcome = run_with_forge(
        tmp_path,
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: ./.github/actions/wrap
        """,
    )
    assert outcome.result.status == Status.SUCCESS, outcome.result.jobs["a"].reason
    lines = [line for line in outcome.events.log("a", 0) if not line.startswith("##[")]
    assert lines == [
        f"composite path {wrap}",
        f"js path {js} word nested",
        "inner said nested!",
    ]


def test_a_fetched_composite_runs_its_files_from_the_jobs_copy(tmp_path):
    publish(
        tmp_path / "forge",
        "octo/tools",
        [
            {
                "setup/action.yml": """\
                    inputs:
                      name: {default: tools}
                    outputs:
                      where:
                        value: ${{ steps.run.outputs.where }}
                    runs:
                      using: composite
                      steps:
                        - id: run
                          run: bash "$GITHUB_ACTION_PATH/hello.sh" "${{ inputs.name }}"
                          shell: bash
                    """,
                "setup/hello.sh": 'echo "hello from $1"\necho "where=$(pwd)" >> "$GITHUB_OUTPUT"\n'
                'echo "path=$GITHUB_ACTION_PATH"\n',
            }
        ],
        tag="v2",
    )
    outcome = run_with_forge(
        tmp_path,
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - id: tools
                uses: octo/tools/setup@v2
                with:
                  name: remote
              - run: echo "ran in ${{ steps.tools.outputs.where }}"
        """,
    )
    assert outcome.result.status == Status.SUCCESS, outcome.result.jobs["a"].reason
    lines = [line for line in outcome.events.log("a", 0) if not line.startswith("##[")]
    assert lines[0] == "hello from remote"
    assert lines[1].endswith("/_actions/octo/tools/v2/setup")
    assert outcome.events.log("a", 1) == [f"ran in {tmp_path / 'workspace'}"]


def test_an_action_that_cannot_be_fetched_fails_its_step_with_the_reason(tmp_path):
    publish_hello(tmp_path / "forge")
    outcome = run_with_forge(
        tmp_path,
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: octo/missing@v1
              - if: always()
                uses: octo/hello@v9
              - if: always()
                uses: octo/hello/sub@v1
        """,
    )
    missing, no_ref, no_path = outcome.result.jobs["a"].steps
    assert missing.status == Status.FAILURE
    assert missing.reason == (
        f"ci.yml:7:15: octo/missing@v1: cannot fetch the action: could not fetch octo/missing: "
        f"fatal: '{tmp_path / 'forge'}/octo/missing' does not appear to be a git repository"
    )
    assert no_ref.reason == (
        f"ci.yml:9:15: octo/hello@v9: cannot fetch the action: octo/hello has no branch, "
        f"tag or commit 'v9' (fetched from {tmp_path / 'forge'}/octo/hello)"
    )
    assert "has no action.yml or action.yaml in sub" in no_path.reason
    assert f"##[error]{missing.reason}" in outcome.events.log("a", 0)


def test_a_fetch_that_falls_back_on_the_copy_fetched_before_warns_in_the_step_log(tmp_path):
    publish_hello(tmp_path / "forge")
    workflow = """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: octo/hello@v1
                with: {who: again}
        """
    assert run_with_forge(tmp_path, workflow).result.status == Status.SUCCESS
    offline = run_with_forge(tmp_path, workflow, actions_url=str(tmp_path / "gone"))
    assert offline.result.status == Status.SUCCESS
    [warning] = [line for line in offline.events.log("a", 0) if "fetched before" in line]
    assert warning == (
        f"##[warning]could not fetch octo/hello: fatal: '{tmp_path / 'gone'}/octo/hello' does "
        "not appear to be a git repository; using the copy of octo/hello@v1 fetched before"
    )


def test_docker_actions_say_they_need_a_docker_engine(tmp_path, monkeypatch):
    workspace = tmp_path / "workspace"
    (workspace / "box").mkdir(parents=True)
    (workspace / "box/action.yml").write_text("runs:\n  using: docker\n  image: Dockerfile\n")
    # No docker command at all: the engine's absence is certain on any machine.
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    outcome = run_with_forge(
        tmp_path,
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: docker://alpine:3.20
              - if: always()
                uses: ./box
        """,
    )
    image, local = outcome.result.jobs["a"].steps
    assert image.reason == (
        "ci.yml:7:15: docker://alpine:3.20: Docker actions need a Docker engine; "
        "none found (no docker command on PATH)"
    )
    assert local.status == Status.FAILURE
    assert "./box: Docker actions need a Docker engine; none found" in local.reason


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker command")
def test_a_docker_command_without_an_engine_says_what_docker_answered(tmp_path):
    from conveyor.actions.docker import docker_engine_problem

    problem = docker_engine_problem()
    if problem is None:
        pytest.skip("a Docker engine answers here")
    assert problem and "docker command" not in problem


def test_a_tag_means_one_commit_for_the_whole_run(tmp_path):
    first, _ = publish_hello(tmp_path / "forge")
    bare = tmp_path / "forge/octo/hello.git"
    outcome = run_with_forge(
        tmp_path,
        f"""
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: octo/hello@v1
                with: {{who: before}}
              - run: git --git-dir "{bare}" tag -f v1 {first}
              - uses: octo/hello@v1
                with: {{who: after}}
        """,
    )
    assert outcome.result.status == Status.SUCCESS
    assert "Hello, after! (version 2)" in outcome.events.log("a", 2)
    # the next run sees the moved tag
    again = run_with_forge(
        tmp_path,
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: octo/hello@v1
                with: {who: later}
        """,
    )
    assert "Hello, later! (version 1)" in again.events.log("a", 0)


def test_without_node_a_javascript_action_fails_saying_so(tmp_path, monkeypatch):
    workspace = tmp_path / "workspace"
    (workspace / "js").mkdir(parents=True)
    (workspace / "js/action.yml").write_text("runs:\n  using: node20\n  main: index.js\n")
    (workspace / "js/index.js").write_text("console.log('ran')\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    outcome = run_with_forge(
        tmp_path,
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: ./js
        """,
    )
    [step] = outcome.result.jobs["a"].steps
    assert step.status == Status.FAILURE
    assert step.reason == (
        "ci.yml:7:15: ./js: JavaScript actions (node20) run with node, and no node was "
        "found on PATH; install Node.js (e.g. apt-get install nodejs)"
    )


def test_state_saved_the_old_way_reaches_the_post_phase(tmp_path):
    workspace = tmp_path / "workspace"
    (workspace / "old").mkdir(parents=True)
    (workspace / "old/action.yml").write_text(
        "runs:\n  using: node12\n  main: main.js\n  post: post.js\n"
    )
    (workspace / "old/main.js").write_text("console.log('::save-state name=kept::from main')\n")
    (workspace / "old/post.js").write_text("console.log(`post: ${process.env.STATE_kept}`)\n")
    outcome = run_with_forge(
        tmp_path,
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: ./old
        """,
    )
    assert outcome.result.status == Status.SUCCESS
    assert outcome.events.log("a", 1) == ["post: from main"]


def test_a_store_that_cannot_be_written_fails_the_step_saying_where(tmp_path):
    publish_hello(tmp_path / "forge")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the store's directory should be\n")
    outcome = run_with_forge(
        tmp_path,
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: octo/hello@v1
                with: {who: x}
        """,
        store_dir=str(blocked),
    )
    [step] = outcome.result.jobs["a"].steps
    assert step.status == Status.FAILURE
    assert step.reason.startswith(
        f"ci.yml:7:15: octo/hello@v1: cannot keep the action in the store {blocked}/actions: "
    )


def test_a_failing_pre_fails_the_step_before_main(tmp_path):
    workspace = tmp_path / "workspace"
    (workspace / "p").mkdir(parents=True)
    (workspace / "p/action.yml").write_text(
        "runs:\n  using: node20\n  pre: pre.js\n  main: main.js\n  post: post.js\n"
    )
    (workspace / "p/pre.js").write_text("console.log('pre fails'); process.exit(3)\n")
    (workspace / "p/main.js").write_text("console.log('main ran')\n")
    (workspace / "p/post.js").write_text("console.log('post ran')\n")
    outcome = run_with_forge(
        tmp_path,
        """
        on: push
        jobs:
          a:
            runs-on: x
            steps:
              - uses: ./p
        """,
    )
    steps = outcome.result.jobs["a"].steps
    assert [(step.status, step.reason) for step in steps] == [
        (Status.FAILURE, "the pre phase of ./p failed with exit code 3")
    ]
    assert "main ran" not in outcome.events.log("a", 0)
