"""What steps write to GITHUB_STEP_SUMMARY is shown at the end of `conveyor run`:
the Markdown itself in a pipe, rendered in the live view; each under its job and step."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_conveyor

WORKFLOW = """\
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - name: Report coverage
        run: |
          echo '### **Coverage** report' >> "$GITHUB_STEP_SUMMARY"
          echo '| file | lines |' >> "$GITHUB_STEP_SUMMARY"
          echo '| --- | --- |' >> "$GITHUB_STEP_SUMMARY"
          echo '| shop.py | 97% |' >> "$GITHUB_STEP_SUMMARY"
      - name: Quiet
        run: echo nothing to report
  docs:
    runs-on: ubuntu-latest
    steps:
      - name: Build docs
        run: echo 'Built *12* pages' >> "$GITHUB_STEP_SUMMARY"
"""


def write_workflow(repo: Path) -> None:
    path = repo / ".github/workflows/ci.yml"
    path.parent.mkdir(parents=True)
    path.write_text(WORKFLOW)


def test_a_piped_run_ends_with_each_summary_as_markdown_under_its_step(repo: Path) -> None:
    write_workflow(repo)
    result = run_conveyor("run", cwd=repo)
    assert result.returncode == 0, result.stderr
    tables = result.stdout.index("Execution table")
    coverage = result.stdout.index(
        "STEP SUMMARY [test] Report coverage\n"
        "### **Coverage** report\n| file | lines |\n| --- | --- |\n| shop.py | 97% |\n"
    )
    docs = result.stdout.index("STEP SUMMARY [docs] Build docs\nBuilt *12* pages\n")
    last_log = result.stdout.rindex("| nothing to report")
    assert last_log < min(coverage, docs) and max(coverage, docs) < tables
    assert "STEP SUMMARY [test] Quiet" not in result.stdout


def test_the_live_view_renders_the_markdown(repo: Path) -> None:
    write_workflow(repo)
    result = run_conveyor("run", "--color", "always", cwd=repo)
    assert result.returncode == 0, result.stderr
    end = result.stdout[
        result.stdout.index("Step summary · [") : result.stdout.index("Execution table")
    ]
    assert "Step summary · [test] Report coverage" in end
    assert "Step summary · [docs] Build docs" in end
    # Rendered: no Markdown marks left, the table drawn as a table.
    assert "Coverage" in end and "**Coverage**" not in end and "###" not in end
    assert "shop.py" in end and "| shop.py |" not in end
    assert "*12*" not in end and "12" in end


def test_each_workflow_shows_its_own_summaries_once(repo: Path) -> None:
    write_workflow(repo)
    (repo / ".github/workflows/release.yml").write_text(
        "on: push\njobs:\n  notes:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - name: Notes\n        run: echo 'v1 notes' >> \"$GITHUB_STEP_SUMMARY\"\n"
    )
    result = run_conveyor("run", cwd=repo)
    assert result.returncode == 0, result.stderr
    for heading in ("[test] Report coverage", "[docs] Build docs", "[notes] Notes"):
        assert result.stdout.count(f"STEP SUMMARY {heading}\n") == 1, result.stdout
