"""The parsed-workflow cache: a file read back from it is exactly the file parsed now.

Real files, real cache directories, the real `conveyor` command for the end-to-end case.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from conveyor.workflow import cache
from conveyor.workflow.errors import WorkflowInvalid
from conveyor.workflow.load import load_workflow, parse_workflow
from tests.helpers import conveyor_env, git, run_conveyor

VALID_DIR = Path(__file__).parent / "valid"

WORKFLOW = """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: Compile
        run: make
"""


def entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.workflow"))


def only_entry(directory: Path) -> Path:
    found = entries(directory)
    assert len(found) == 1, found
    return found[0]


def test_a_valid_file_is_kept_and_read_back_equal(tmp_path: Path) -> None:
    source = tmp_path / "ci.yml"
    source.write_text(WORKFLOW)
    store = tmp_path / "cache"

    parsed = load_workflow(source, "ci.yml", str(store))
    entry = only_entry(store)
    assert load_workflow(source, "ci.yml", str(store)) == parsed
    assert parsed == parse_workflow(WORKFLOW, "ci.yml")
    # What was read is the entry's: a second parse would have left it untouched too,
    # so show it is read by making it say something the file does not.
    key = cache.entry_key(source.read_bytes(), "ci.yml")
    changed = parse_workflow(WORKFLOW.replace("Compile", "From the cache"), "ci.yml")
    cache.write_entry(str(entry), key, changed)
    assert load_workflow(source, "ci.yml", str(store)).jobs["build"].steps[0].name == (
        "From the cache"
    )


def test_an_edited_file_is_parsed_again_and_its_entry_replaced(tmp_path: Path) -> None:
    source = tmp_path / "ci.yml"
    source.write_text(WORKFLOW)
    store = tmp_path / "cache"
    load_workflow(source, "ci.yml", str(store))

    source.write_text(WORKFLOW.replace("Compile", "Build it").replace("make", "make all"))
    step = load_workflow(source, "ci.yml", str(store)).jobs["build"].steps[0]
    assert (step.name, step.run) == ("Build it", "make all")
    # One entry per workflow file: the new text replaced the old one.
    entry = only_entry(store)
    assert b"make all" in entry.read_bytes()


def test_the_name_in_messages_is_part_of_the_key(tmp_path: Path) -> None:
    source = tmp_path / "ci.yml"
    source.write_text(WORKFLOW)
    store = tmp_path / "cache"
    load_workflow(source, "ci.yml", str(store))

    renamed = load_workflow(source, ".github/workflows/ci.yml", str(store))
    assert renamed.path == ".github/workflows/ci.yml"
    assert str(renamed.jobs["build"].steps[0].position) == ".github/workflows/ci.yml:6:9"


def test_a_file_with_a_problem_is_never_kept_and_always_says_where(tmp_path: Path) -> None:
    source = tmp_path / "ci.yml"
    source.write_text(WORKFLOW)
    store = tmp_path / "cache"
    load_workflow(source, "ci.yml", str(store))
    kept = only_entry(store).read_bytes()

    source.write_text(WORKFLOW.replace("run: make", "runn: make"))
    for _ in range(2):  # the second time must not find anything kept for it either
        with pytest.raises(WorkflowInvalid) as raised:
            load_workflow(source, "ci.yml", str(store))
        assert str(raised.value).startswith("ci.yml:7:9: ")
        assert "runn" in str(raised.value)
    assert only_entry(store).read_bytes() == kept

    # Fixed again: the run sees the fixed file.
    source.write_text(WORKFLOW.replace("make", "make fixed"))
    assert load_workflow(source, "ci.yml", str(store)).jobs["build"].steps[0].run == "make fixed"


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"",
        lambda data: data[: len(data) // 2],
        lambda data: data[:-40] + b"\xff" * 40,
        lambda data: b"not a cache entry at all",
    ],
    ids=["empty", "cut short", "garbled tail", "garbage"],
)
def test_a_damaged_entry_is_ignored_and_written_again(tmp_path: Path, damage) -> None:
    source = tmp_path / "ci.yml"
    source.write_text(WORKFLOW)
    store = tmp_path / "cache"
    expected = load_workflow(source, "ci.yml", str(store))
    entry = only_entry(store)
    whole = entry.read_bytes()
    entry.write_bytes(damage(whole))

    assert load_workflow(source, "ci.yml", str(store)) == expected
    assert entry.read_bytes() == whole


class _Planted:
    """Unpickled without restriction, this would create a directory."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_an_entry_naming_anything_but_the_model_is_refused_unrun(tmp_path: Path) -> None:
    source = tmp_path / "ci.yml"
    source.write_text(WORKFLOW)
    store = tmp_path / "cache"
    expected = load_workflow(source, "ci.yml", str(store))
    entry = only_entry(store)
    marker = tmp_path / "planted-code-ran"
    key = cache.entry_key(source.read_bytes(), "ci.yml")
    entry.write_bytes(
        cache.FORMAT + len(key).to_bytes(8, "big") + key + pickle.dumps(_Planted(marker))
    )

    assert load_workflow(source, "ci.yml", str(store)) == expected
    assert not marker.exists()


def test_a_directory_others_may_write_to_is_not_used(tmp_path: Path) -> None:
    source = tmp_path / "ci.yml"
    source.write_text(WORKFLOW)
    store = tmp_path / "cache"
    store.mkdir(mode=0o700)
    load_workflow(source, "ci.yml", str(store))
    entry = only_entry(store)
    key = cache.entry_key(source.read_bytes(), "ci.yml")
    cache.write_entry(
        str(entry), key, parse_workflow(WORKFLOW.replace("Compile", "Planted"), "ci.yml")
    )
    assert load_workflow(source, "ci.yml", str(store)).jobs["build"].steps[0].name == "Planted"

    store.chmod(0o777)
    assert load_workflow(source, "ci.yml", str(store)).jobs["build"].steps[0].name == "Compile"


def test_a_changed_parser_source_changes_the_key(tmp_path: Path, monkeypatch) -> None:
    parser_dir = tmp_path / "workflow"
    (parser_dir / "expressions").mkdir(parents=True)
    module = parser_dir / "expressions" / "grammar.py"
    module.write_text("RULES = 1\n")
    monkeypatch.setattr(cache, "_PACKAGE_DIR", str(parser_dir))
    before = cache.entry_key(b"on: push\n", "ci.yml")

    module.write_text("RULES = 22\n")
    assert cache.entry_key(b"on: push\n", "ci.yml") != before


def test_a_cache_that_cannot_be_written_only_means_parsing(tmp_path: Path) -> None:
    source = tmp_path / "ci.yml"
    source.write_text(WORKFLOW)
    blocked = tmp_path / "a-file-not-a-directory"
    blocked.write_text("")
    workflow = load_workflow(source, "ci.yml", str(blocked / "cache"))
    assert workflow == parse_workflow(WORKFLOW, "ci.yml")


@pytest.mark.parametrize("path", sorted(VALID_DIR.glob("*.y*ml")), ids=lambda p: p.name)
def test_every_valid_example_reads_back_equal(tmp_path: Path, path: Path) -> None:
    """Whatever the model holds must survive its entry (a new kind of value in the model
    that the cache cannot rebuild would make every run parse again)."""
    store = tmp_path / "cache"
    parsed = load_workflow(path, path.name, str(store))
    entry = only_entry(store)
    read_back = cache.read_entry(str(entry), cache.entry_key(path.read_bytes(), path.name))
    assert read_back == parsed


def test_conveyor_run_never_runs_a_stale_workflow(repo: Path, tmp_path: Path) -> None:
    env = conveyor_env(XDG_CACHE_HOME=str(tmp_path / "xdg-cache"))
    workflow = repo / ".conveyor.yml"
    workflow.write_text("steps:\n  - name: Greet\n    run: echo first version\n")
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "workflow", cwd=repo)

    first = run_conveyor("run", cwd=repo, env=env)
    assert first.returncode == 0, first.stderr
    assert "[pipeline] | first version\n" in first.stdout
    store = tmp_path / "xdg-cache" / "conveyor" / "workflows"
    assert len(entries(store)) == 1

    workflow.write_text("steps:\n  - name: Greet\n    run: echo second version\n")
    second = run_conveyor("run", cwd=repo, env=env)
    assert second.returncode == 0, second.stderr
    assert "[pipeline] | second version\n" in second.stdout
    assert "first version" not in second.stdout

    workflow.write_text("steps:\n  - name: Greet\n    runs: echo typo\n")
    broken = run_conveyor("run", cwd=repo, env=env)
    assert broken.returncode == 2
    assert ".conveyor.yml:3:5: " in broken.stderr


def test_past_the_limit_the_entries_written_longest_ago_go(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(cache, "MAX_ENTRIES", 3)
    store = tmp_path / "cache"
    sources = []
    for number in range(5):
        source = tmp_path / f"ci{number}.yml"
        source.write_text(WORKFLOW.replace("make", f"make {number}"))
        load_workflow(source, source.name, str(store))
        # Written one after the other: give each entry its own second, whatever the
        # file system's clock granularity.
        entry = cache.entry_path(str(store), source)
        os.utime(entry, (1_000_000 + number, 1_000_000 + number))
        sources.append(source)

    def kept() -> list[str]:
        return [s.name for s in sources if Path(cache.entry_path(str(store), s)).exists()]

    assert kept() == ["ci2.yml", "ci3.yml", "ci4.yml"]
    load_workflow(sources[0], sources[0].name, str(store))  # parsed again, kept again
    assert kept() == ["ci0.yml", "ci3.yml", "ci4.yml"]
    assert len(entries(store)) == 3
