"""A deploy from the tar a sandboxed job makes (``in_job/pack_release``) rather than from
a directory the deploy lists itself: what the server hands ``deploy`` (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.deploy.deployer import deploy, stop_all
from conveyor.deploy.state import Target
from tests.cli import deploy_projects as shop
from tests.cli.deploy_projects import free_port, served
from tests.helpers import conveyor_env

pytestmark = pytest.mark.slow


def test_a_local_target_deploys_the_packed_tar_and_its_sha(tmp_path: Path) -> None:
    target = tmp_path / "srv"
    bind = f"127.0.0.1:{free_port()}"
    project = shop.make_shop(tmp_path / "shop", target, bind)
    (project / "untracked_but_not_ignored.txt").write_text("deployed as the tree is\n")
    archive, sha = shop.pack(project, tmp_path, ["db.sqlite3"])
    # The directory is gone: the tar is all the deploy has.
    moved = project.rename(tmp_path / "elsewhere")
    recorded = shop.Recorded()
    settings = shop.archive_settings(str(target), bind, (archive, sha), watch_seconds=0)
    try:
        result = deploy(settings, recorded.reporter, conveyor_env())
        assert result.succeeded, "\n".join(recorded.lines)
        assert recorded.states == ["deploying", "health-checking", "live"]
        assert result.release.endswith(sha[:7])
        release = target / "releases" / result.release
        assert (release / "untracked_but_not_ignored.txt").exists()
        assert not (release / ".git").exists() and (moved / ".git").exists()
        assert Target(str(target)).load(result.release).sha == sha
        assert served(bind) == "shop v1"
    finally:
        stop_all(str(target))
