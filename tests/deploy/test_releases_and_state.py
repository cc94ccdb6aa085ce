"""A target's releases, shared paths, ``current`` link and state files, on real
directories and a real git repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conveyor.deploy import releases
from conveyor.deploy.django_steps import DjangoFacts, _names_gunicorn
from conveyor.deploy.state import DeployError, ReleaseState, Target
from tests.helpers import git


@pytest.mark.parametrize("path", ["ssh://deploy@host/srv/shop", "ssh://host:2222/srv"])
def test_an_ssh_target_is_not_a_local_directory(path: str) -> None:
    with pytest.raises(DeployError, match="not a directory of this machine"):
        Target(path)


def test_a_url_of_another_kind_is_not_a_target() -> None:
    with pytest.raises(DeployError, match="a target is a local directory"):
        Target("https://example.com/shop")


def test_current_moves_in_one_rename_and_can_be_removed(tmp_path: Path) -> None:
    target = Target(str(tmp_path))
    target.make_dirs()
    for name in ("20260101T000000000Z-aaaaaaa", "20260102T000000000Z-bbbbbbb"):
        os.makedirs(target.release_dir(name))
    target.point_current_to("20260101T000000000Z-aaaaaaa")
    target.point_current_to("20260102T000000000Z-bbbbbbb")
    assert os.readlink(tmp_path / "current") == "releases/20260102T000000000Z-bbbbbbb"
    assert target.current() == "20260102T000000000Z-bbbbbbb"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("current.")] == []
    target.point_current_to(None)
    assert target.current() is None


def test_a_release_state_is_saved_and_read_back(tmp_path: Path) -> None:
    target = Target(str(tmp_path))
    state = ReleaseState(name="r1", pid=42, port=8000, applied=[["shop", "0002_x"]])
    state.before = {"shop": "0001_initial"}
    target.save(state)
    assert target.load("r1") == state
    assert target.load("missing").state == "unknown"
    leftovers = [p for p in (tmp_path / ".conveyor" / "releases").iterdir() if "tmp" in p.name]
    assert leftovers == []


def test_pruning_keeps_the_newest_and_the_protected(tmp_path: Path) -> None:
    target = Target(str(tmp_path))
    names = [f"2026010{day}T000000000Z-aaaaaaa" for day in range(1, 7)]
    for name in names:
        os.makedirs(target.release_dir(name))
        target.save(ReleaseState(name=name))
    removed = releases.prune(target, 3, {names[0], names[5]})
    assert removed == [names[1], names[2], names[3]]
    assert target.release_names() == [names[0], names[4], names[5]]
    assert target.load(names[1]).state == "unknown"  # its state went with it


def test_a_release_holds_the_tracked_and_unignored_files_and_copies_links_as_links(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    (project / "app").mkdir(parents=True)
    (project / "app" / "views.py").write_text("tracked\n")
    (project / "notes.txt").write_text("untracked, not ignored\n")
    (project / "db.sqlite3").write_text("ignored\n")
    (project / ".gitignore").write_text("db.sqlite3\n")
    (project / "media").mkdir()
    (project / "media" / "upload.png").write_text("shared\n")
    secret = tmp_path / "secret"
    secret.write_text("outside\n")
    (project / "link").symlink_to(secret)
    git("init", "-q", cwd=project)
    git("add", "app", ".gitignore", "link", cwd=project)
    release = tmp_path / "release"
    release.mkdir()
    releases.copy_project(str(project), str(release), ["media"])
    copied = sorted(str(p.relative_to(release)) for p in release.rglob("*"))
    assert copied == [".gitignore", "app", "app/views.py", "link", "notes.txt"]
    assert (release / "link").is_symlink() and os.readlink(release / "link") == str(secret)


def test_shared_paths_link_to_the_target(tmp_path: Path) -> None:
    target = Target(str(tmp_path / "target"))
    target.make_dirs()
    release = tmp_path / "release"
    (release / "media").mkdir(parents=True)  # the project's own copy gives way
    releases.link_shared(target, str(release), ["media", ".env", "data/db.sqlite3"])
    assert (release / "media").resolve() == Path(target.shared_dir) / "media"
    assert (Path(target.shared_dir) / "media").is_dir()
    assert os.readlink(release / ".env") == os.path.join(target.shared_dir, ".env")
    assert not (Path(target.shared_dir) / ".env").exists()  # a file the app makes
    assert (release / "data" / "db.sqlite3").is_symlink()
    with pytest.raises(DeployError, match="relative path inside the project"):
        releases.link_shared(target, str(release), ["../etc"])


@pytest.mark.parametrize(
    ("allowed", "host"),
    [
        (["*"], "localhost"),
        ([], "localhost"),
        (["*", "shop.example"], "shop.example"),
        ([".example.com"], "example.com"),
        (["localhost", "shop.example"], "localhost"),
    ],
)
def test_the_health_checks_host_is_one_allowed_hosts_accepts(allowed, host) -> None:
    assert DjangoFacts(allowed_hosts=allowed, wsgi="m:app").host_header == host


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("gunicorn\n", True),
        ("gunicorn==23.0.0  # the app server\n", True),
        ("Gunicorn[gevent]>=21\n", True),
        ("gunicorn-stubs\n", False),
        ("gunicornx\n", False),
        ("# gunicorn\n", False),
    ],
)
def test_requirements_must_name_gunicorn(tmp_path: Path, line: str, named: bool) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("Django\n" + line)
    assert _names_gunicorn(str(requirements)) is named


def test_release_names_sort_by_time() -> None:
    import datetime

    early = datetime.datetime(2026, 1, 1, 0, 0, 0, 5000, tzinfo=datetime.UTC)
    late = datetime.datetime(2026, 1, 1, 0, 0, 0, 6000, tzinfo=datetime.UTC)
    assert releases.release_name("abcdef0123", early) == "20260101T000000005Z-abcdef0"
    assert releases.release_name("", early) < releases.release_name("abc", late)
