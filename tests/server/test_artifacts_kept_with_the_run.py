"""A run's artifacts live as long as the run: retention and any other deletion take them
too; an artifact's own retention-days end it sooner."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from conveyor.server.runs import artifacts
from conveyor.server.runs.models import Run
from conveyor.server.runs.retention import Retention, purge_expired
from tests.server.test_retention import make_run

pytestmark = pytest.mark.django_db(transaction=True)


def upload(run: Run, name: str, tmp_path: Path, retention_days: int | None = None) -> None:
    archive = tmp_path / f"{name}.tar.gz"
    archive.write_bytes(b"not really gzip, kept as given")
    with open(archive, "rb") as handle:
        artifacts.store_of(run.pk).add(
            name,
            handle.fileno(),
            overwrite=False,
            files=1,
            job_key="build",
            retention_days=retention_days,
        )


def test_retention_deletes_the_runs_artifacts_with_it(repository, data_dir, tmp_path):
    old = make_run(repository, 1, "success", 100)
    young = make_run(repository, 2, "success", 1)
    upload(old, "report", tmp_path)
    upload(young, "report", tmp_path)
    assert purge_expired(90) == 1
    assert not os.path.exists(artifacts.run_artifacts_dir(old.pk))
    assert [a.name for a in artifacts.store_of(young.pk).list()] == ["report"]


def test_deleting_a_run_or_its_repository_deletes_its_artifacts(repository, data_dir, tmp_path):
    first = make_run(repository, 1, "success", 1)
    second = make_run(repository, 2, "success", 1)
    upload(first, "a", tmp_path)
    upload(second, "b", tmp_path)
    first.delete()
    assert not os.path.exists(artifacts.run_artifacts_dir(first.pk))
    assert os.path.exists(artifacts.run_artifacts_dir(second.pk))
    repository.delete()
    assert not os.path.exists(artifacts.run_artifacts_dir(second.pk))


def test_retention_days_end_an_artifact_before_its_run(repository, data_dir, tmp_path):
    run = make_run(repository, 1, "success", 1)
    upload(run, "short", tmp_path, retention_days=1)
    upload(run, "kept", tmp_path)
    assert artifacts.remove_expired_artifacts(now=time.time() + 3600) == 0
    assert artifacts.remove_expired_artifacts(now=time.time() + 2 * 86400) == 1
    assert [a.name for a in artifacts.store_of(run.pk).list()] == ["kept"]


def test_the_retention_thread_removes_expired_artifacts(repository, data_dir, tmp_path):
    run = make_run(repository, 1, "success", 1)
    upload(run, "short", tmp_path, retention_days=1)
    store = artifacts.store_of(run.pk)
    (Path(store.root) / "short" / "artifact.json").write_text(
        (Path(store.root) / "short" / "artifact.json")
        .read_text()
        .replace('"expires_at": ', '"expires_at": 1, "was": ')
    )
    Retention(90).look()
    assert store.list() == []
