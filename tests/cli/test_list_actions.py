"""`conveyor run --list-actions` and `--actions-url`: what each uses: is, then a real run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.actions.forge import publish, publish_hello
from tests.helpers import conveyor_env, run_conveyor

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node")

WORKFLOW = """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Wrapped
        uses: ./.github/actions/wrap
      - id: greet
        uses: octo/hello@v1
        with: {{who: CLI}}
      - uses: octo/hello@{first}
        with: {{who: pinned}}
      - run: touch "{marker}"
  images:
    runs-on: ubuntu-latest
    steps:
      - uses: docker://alpine:3.20
      - uses: octo/missing@v1
      - uses: octo/tools/setup@v2
"""


def make_project(repo: Path, forge: Path) -> str:
    first, _ = publish_hello(forge)
    publish(
        forge,
        "octo/tools",
        [
            {
                "setup/action.yml": "runs:\n  using: composite\n  steps:\n"
                "    - uses: octo/hello@v1\n      with: {who: nested}\n",
            }
        ],
        tag="v2",
    )
    js = repo / ".github/actions/js"
    js.mkdir(parents=True)
    (js / "action.yml").write_text("runs:\n  using: node16\n  main: index.js\n")
    (js / "index.js").write_text("console.log('local js ran')\n")
    wrap = repo / ".github/actions/wrap"
    wrap.mkdir(parents=True)
    (wrap / "action.yml").write_text(
        "runs:\n  using: composite\n  steps:\n    - uses: ./.github/actions/js\n"
    )
    marker = repo.parent / "marker"
    (repo / ".github/workflows").mkdir(parents=True)
    (repo / ".github/workflows/ci.yml").write_text(WORKFLOW.format(first=first, marker=marker))
    return first


def test_list_actions_shows_each_reference_its_kind_and_place_and_runs_nothing(
    repo: Path, tmp_path: Path
) -> None:
    forge = tmp_path / "forge"
    first = make_project(repo, forge)
    env = conveyor_env(XDG_CACHE_HOME=str(tmp_path / "cache"), COLUMNS="250")
    result = run_conveyor("run", "--list-actions", "--actions-url", str(forge), cwd=repo, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"fetching from {forge}" in result.stderr
    rows = [line.split("  ") for line in result.stdout.splitlines()]
    cells = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    cells = [row for row in cells if len(row) >= 3]
    assert ["Job", "Step", "Uses", "Kind", "Resolves to"] in cells
    assert ["build", "1", "actions/checkout@v4", "built-in", "built into Conveyor"] in cells
    assert [
        "build",
        "2 Wrapped",
        "./.github/actions/wrap",
        "composite",
        ".github/actions/wrap",
    ] in cells
    assert [
        "build",
        "2 Wrapped > 1",
        "./.github/actions/js",
        "JavaScript (node16)",
        ".github/actions/js",
    ] in cells
    hello = [row for row in cells if row[2] == "octo/hello@v1" and row[0] == "build"]
    assert hello[0][3:] == ["JavaScript (node20)", hello[0][4]]
    assert hello[0][4].startswith("octo/hello@") and hello[0][4] != f"octo/hello@{first[:12]}"
    assert [
        "build",
        "4",
        f"octo/hello@{first}",
        "JavaScript (node20)",
        f"octo/hello@{first[:12]}",
    ] in cells
    assert ["images", "1", "docker://alpine:3.20", "Docker", "image alpine:3.20"] in cells
    [missing] = [row for row in cells if row[2] == "octo/missing@v1"]
    assert missing[3] == "cannot be resolved" and "could not fetch octo/missing" in missing[4]
    assert ["images", "3 > 1", "octo/hello@v1", "JavaScript (node20)", hello[0][4]] in cells
    # Nothing ran.
    assert not (repo.parent / "marker").exists()
    assert "Execution table" not in result.stdout

    # --job keeps to the selected jobs; the URL may come from the environment.
    env["CONVEYOR_ACTIONS_URL"] = str(forge)
    only = run_conveyor("run", "--list-actions", "--job", "images", cwd=repo, env=env)
    assert only.returncode == 0, only.stderr
    assert "docker://alpine:3.20" in only.stdout and "octo/hello@v1" in only.stdout
    assert "actions/checkout" not in only.stdout


def test_run_fetches_from_the_actions_url_and_runs_the_javascript_action(
    repo: Path, tmp_path: Path
) -> None:
    forge = tmp_path / "forge"
    publish_hello(forge)
    (repo / ".conveyor.yml").write_text(
        "steps:\n  - id: greet\n    uses: octo/hello@v1\n    with: {who: terminal}\n"
        '  - run: echo "got ${{ steps.greet.outputs.greeting }}"\n'
    )
    env = conveyor_env(XDG_CACHE_HOME=str(tmp_path / "cache"), CONVEYOR_ACTIONS_URL=str(forge))
    result = run_conveyor("run", "--json", cwd=repo, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Hello, terminal! (version 2)" in result.log_lines(0)
    assert result.log_lines(1) == ["got Hello, terminal"]
    assert (tmp_path / "cache/conveyor/actions/octo/hello.git").is_dir()
    # --actions-url wins over the environment
    elsewhere = run_conveyor(
        "run",
        "--json",
        "--actions-url",
        str(tmp_path / "none"),
        cwd=repo,
        env=conveyor_env(XDG_CACHE_HOME=str(tmp_path / "cache2"), CONVEYOR_ACTIONS_URL=str(forge)),
    )
    assert elsewhere.returncode == 1
    assert "could not fetch octo/hello" in elsewhere.stdout
