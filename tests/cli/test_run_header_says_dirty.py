"""The RUN header names the commit, and says when the working tree differs from it."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import git, run_conveyor

WORKFLOW = "steps:\n  - run: echo hi\n"


def test_the_header_adds_dirty_to_the_sha_of_a_changed_tree(repo: Path) -> None:
    (repo / ".conveyor.yml").write_text(WORKFLOW)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "workflow", cwd=repo)
    short = git("rev-parse", "--short=7", "HEAD", cwd=repo).strip()

    clean = run_conveyor("run", cwd=repo)
    assert clean.returncode == 0, clean.stderr
    assert f"on push refs/heads/main {short}\n" in clean.stdout

    (repo / "README").write_text("edited, not committed\n")
    dirty = run_conveyor("run", cwd=repo)
    assert dirty.returncode == 0, dirty.stderr
    assert f"on push refs/heads/main {short}+dirty\n" in dirty.stdout
    started = run_conveyor("run", "--json", cwd=repo).events()[0]
    assert (started["type"], started["sha"][:7], started["dirty"]) == ("run_started", short, True)

    # A new file the run would see counts too; --clean runs HEAD's own tree.
    git("checkout", "-q", "README", cwd=repo)
    (repo / "notes.txt").write_text("new\n")
    assert f"{short}+dirty\n" in run_conveyor("run", cwd=repo).stdout
    assert f"{short}\n" in run_conveyor("run", "--clean", cwd=repo).stdout
