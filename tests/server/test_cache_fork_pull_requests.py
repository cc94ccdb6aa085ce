"""A fork's pull request restores its repository's cache entries but saves apart: it cannot
plant an entry that the repository's own runs would restore."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from conveyor.actions.cache_archive import archive_suffix, compression_method
from conveyor.actions.cache_store import CacheStore, cache_version
from conveyor.server.runs.models import LogChunk, Run
from tests.server.conftest import GitProject, wait_for_run_end
from tests.server.test_fork_support import base_and_head, pull_request_delivery, send

pytestmark = pytest.mark.django_db(transaction=True)

WORKFLOW = """\
on: pull_request
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: cache
        uses: actions/cache@v4
        with:
          path: deps
          key: deps-pull-request
          restore-keys: deps-
      - run: |
          echo "restored=$(cat deps/file 2>/dev/null) hit=${{ steps.cache.outputs.cache-hit }}"
          mkdir -p deps && echo planted > deps/file
"""


def plant(store: CacheStore, key: str, text: str, place: Path) -> None:
    """An entry as a run of the repository itself would have saved it."""
    compression = compression_method()
    (place / "stage" / "workspace" / "deps").mkdir(parents=True)
    (place / "stage" / "workspace" / "deps" / "file").write_text(text)
    archive = place / f"entry{archive_suffix(compression)}"
    flags = {"zstd": ["--use-compress-program", "zstd"], "gzip": ["-z"]}.get(compression, [])
    subprocess.run(
        ["tar", "-c", "-f", str(archive), *flags, "-C", str(place / "stage"), "workspace/deps"],
        check=True,
    )
    fd = os.open(archive, os.O_RDONLY)
    try:
        version = cache_version(["deps"], compression)
        assert store.save(key, version, fd, archive_suffix(compression)).saved
    finally:
        os.close(fd)


def test_a_forks_pull_request_reads_the_repository_cache_and_saves_apart(
    client: Any, repository: Any, git_project: GitProject, workers: Any, tmp_path: Path
):
    store_dir = str(Path(settings.DATA_DIR) / "store")
    own = CacheStore(store_dir, f"repository-{repository.pk}")
    plant(own, "deps-main", "from main", tmp_path)
    base, head = base_and_head(
        git_project, {"README.md": "base\n"}, {".github/workflows/pr.yml": WORKFLOW}
    )
    repository.require_fork_approval = False
    repository.save()
    response = send(client, repository, pull_request_delivery(base, head, fork=True))
    assert response.status_code == 200, response.content
    run = wait_for_run_end(Run.objects.get(), timeout=60)
    assert run.status == "success", run.reason
    log = "\n".join(LogChunk.objects.filter(step__job__run=run).values_list("text", flat=True))
    assert "restored=from main hit=false" in log

    assert [entry.key for entry in own.entries()] == ["deps-main"]
    fork = CacheStore(store_dir, f"repository-{repository.pk}-fork-pull-request-7")
    assert [entry.key for entry in fork.entries()] == ["deps-pull-request"]
