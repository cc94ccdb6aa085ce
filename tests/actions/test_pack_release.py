"""The deploy's in-job packer: what a sandboxed job hands the deploy is git's view of the
project, links as links (never their targets), the shared paths left out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from conveyor.actions.in_job import source
from tests.helpers import git


def pack(project: Path, tmp_path: Path, shared: list[str]) -> tuple[dict[str, str], Path]:
    output = tmp_path / "release.tar"
    outputs = tmp_path / "outputs"
    outputs.write_text("")
    spec = {"project": str(project), "shared": shared, "output": str(output)}
    subprocess.run(
        [sys.executable, "-c", source("pack_release"), json.dumps(spec)],
        check=True,
        env={**os.environ, "GITHUB_OUTPUT": str(outputs)},
    )
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    return values, output


def test_git_files_are_packed_links_as_links_shared_paths_left_out(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    (project / "shop").mkdir(parents=True)
    (project / "manage.py").write_text("print('manage')\n")
    (project / "shop" / "views.py").write_text("VIEWS = 1\n")
    (project / ".gitignore").write_text("db.sqlite3\n*.log\n")
    (project / "db.sqlite3").write_text("a developer's data\n")
    (project / "debug.log").write_text("ignored\n")
    (project / "media").mkdir()
    (project / "media" / "upload.png").write_text("user data\n")
    (project / "secrets").symlink_to("/etc/passwd")
    git("init", "-q", "-b", "main", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "v1", cwd=project)
    sha = git("rev-parse", "HEAD", cwd=project).strip()
    (project / "notes.txt").write_text("untracked, not ignored: deployed as the tree is\n")

    values, archive = pack(project, tmp_path, ["media", ".env"])

    assert values == {"sha": sha, "files": "5"}
    with tarfile.open(archive) as tar:
        members = {member.name: member for member in tar.getmembers()}
        assert sorted(members) == [
            ".gitignore",
            "manage.py",
            "notes.txt",
            "secrets",
            "shop/views.py",
        ]
        assert members["secrets"].issym() and members["secrets"].linkname == "/etc/passwd"
        assert tar.extractfile("shop/views.py").read() == b"VIEWS = 1\n"


def test_a_project_without_git_is_packed_whole_but_dot_git(tmp_path: Path) -> None:
    project = tmp_path / "plain"
    (project / ".git").mkdir(parents=True)  # not a repository: git fails, the walk runs
    (project / ".git" / "config").write_text("x")
    (project / "manage.py").write_text("")
    values, archive = pack(project, tmp_path, [])
    assert values == {"sha": "", "files": "1"}
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["manage.py"]
