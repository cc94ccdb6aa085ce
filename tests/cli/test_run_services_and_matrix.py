"""``conveyor run --service``, ``--config`` (and the user's config.toml) and ``--matrix``,
through the real command. A service here is a real TCP server made by the test."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Result, conveyor_env, git, run_conveyor

SERVICE_WORKFLOW = """\
on: push
jobs:
  tests:
    runs-on: ubuntu-latest
    services:
      cache:
        image: redis:7
        ports: ['6379:6379']
    steps:
      - run: |
          exec 3<>/dev/tcp/localhost/${{ job.services.cache.ports[6379] }}
          read -r line <&3; echo "cache says: $line"
"""

MATRIX_WORKFLOW = """\
on: push
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo "lint ran"
  tests:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python-version: ["3.11", 3.12, "3.13"]
        os: [ubuntu-latest]
    steps:
      - run: echo "tests ran on ${{ matrix.python-version }}"
  docs:
    needs: tests
    runs-on: ubuntu-latest
    strategy:
      matrix:
        sphinx: [7, 8]
    steps:
      - run: echo "docs ran with sphinx ${{ matrix.sphinx }}"
"""


@pytest.fixture
def listener() -> Iterator[int]:
    """A real TCP server on 127.0.0.1 saying PONG to each connection; yields its port."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                try:
                    connection.sendall(b"PONG\n")
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def workflow_repo(repo: Path, text: str) -> Path:
    directory = repo / ".github" / "workflows"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ci.yml").write_text(text)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "workflow", cwd=repo)
    return repo


def run(repo: Path, *args: str, config_home: Path) -> Result:
    env = conveyor_env(XDG_CONFIG_HOME=str(config_home))
    return run_conveyor("run", "--color", "never", *args, cwd=repo, env=env)


def test_a_service_mapped_by_the_flag_is_reached(repo, tmp_path, listener):
    workflow_repo(repo, SERVICE_WORKFLOW)
    result = run(repo, "--service", f"cache=127.0.0.1:{listener}", config_home=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[tests] | cache says: PONG" in result.stdout


def test_the_users_config_file_maps_services(repo, tmp_path, listener):
    workflow_repo(repo, SERVICE_WORKFLOW)
    config = tmp_path / "conveyor" / "config.toml"
    config.parent.mkdir()
    config.write_text(f'[services]\ncache = "127.0.0.1:{listener}"\n')
    result = run(repo, config_home=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[tests] | cache says: PONG" in result.stdout


def test_config_given_replaces_the_users_and_the_flag_wins_over_both(repo, tmp_path, listener):
    workflow_repo(repo, SERVICE_WORKFLOW)
    with socket.create_server(("127.0.0.1", 0)) as closed:
        dead = closed.getsockname()[1]
    users = tmp_path / "conveyor" / "config.toml"
    users.parent.mkdir()
    users.write_text(f'[services]\ncache = "127.0.0.1:{dead}"\n')
    given = tmp_path / "ci-services.toml"
    given.write_text(f'[other]\nx = 1\n\n[services]\ncache = "127.0.0.1:{listener}"\n')
    from_file = run(repo, "--config", str(given), config_home=tmp_path)
    assert from_file.returncode == 0, from_file.stdout + from_file.stderr
    assert "cache says: PONG" in from_file.stdout
    flag_wins = run(
        repo, "--config", str(given), "--service", f"cache=127.0.0.1:{dead}", config_home=tmp_path
    )
    assert flag_wins.returncode == 1
    assert f"service 'cache' is mapped to 127.0.0.1:{dead}, but nothing answers" in (
        flag_wins.stdout
    )


def test_a_service_where_nothing_listens_fails_the_job_before_its_steps(repo, tmp_path):
    workflow_repo(repo, SERVICE_WORKFLOW)
    with socket.create_server(("127.0.0.1", 0)) as closed:
        dead = closed.getsockname()[1]
    result = run(repo, "--service", f"cache=127.0.0.1:{dead}", config_home=tmp_path)
    assert result.returncode == 1
    assert (
        f": .github/workflows/ci.yml:6:7: service 'cache' is mapped to "
        f"127.0.0.1:{dead}, but nothing answers there (Connection refused): start it, or map "
        "the service to where it runs with --service cache=HOST:PORT"
    ) in result.stdout
    assert "[tests] JOB FAIL" in result.stdout
    assert "cache says" not in result.stdout
    assert "START" not in result.stdout


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[services\n", "not valid TOML"),
        ("services = 1\n", "'services' must be a table"),
        ("[services]\ncache = 6379\n", '[services] cache: expected a text "HOST:PORT", got int'),
        ('[services]\ncache = "localhost"\n', "[services] cache = 'localhost': expected HOST:PORT"),
    ],
)
def test_a_bad_config_file_is_named_with_what_is_wrong(repo, tmp_path, config, message):
    workflow_repo(repo, SERVICE_WORKFLOW)
    path = tmp_path / "bad.toml"
    path.write_text(config)
    result = run(repo, "--config", str(path), config_home=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"conveyor: {path}: ")
    assert message in result.stderr


def test_a_missing_config_file_given_is_an_error(repo, tmp_path):
    workflow_repo(repo, SERVICE_WORKFLOW)
    result = run(repo, "--config", str(tmp_path / "nope.toml"), config_home=tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"conveyor: --config {tmp_path / 'nope.toml'}: no such file\n"


def test_a_bad_service_flag_says_what_is_expected(repo, tmp_path):
    workflow_repo(repo, SERVICE_WORKFLOW)
    result = run(repo, "--service", "cache", config_home=tmp_path)
    assert result.returncode == 2
    assert "expected NAME=HOST:PORT" in result.stderr


def test_a_service_flag_no_job_uses_is_warned_about(repo, tmp_path, listener):
    workflow_repo(repo, SERVICE_WORKFLOW)
    result = run(
        repo,
        "--service",
        f"cache=127.0.0.1:{listener}",
        "--service",
        f"postgres=127.0.0.1:{listener}",
        config_home=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == (
        "conveyor: warning: --service postgres: no job that runs declares a service "
        "'postgres' (services: cache)\n"
    )


def ran_jobs(result: Result) -> list[str]:
    return [line.split("] JOB ", 1)[1] for line in result.stdout.splitlines() if "] JOB " in line]


def test_matrix_runs_only_the_matching_legs_and_jobs_without_the_key_whole(repo, tmp_path):
    workflow_repo(repo, MATRIX_WORKFLOW)
    result = run(repo, "--matrix", "python-version=3.12", config_home=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tests ran on 3.12" in result.stdout
    assert "tests ran on 3.11" not in result.stdout and "tests ran on 3.13" not in result.stdout
    # Jobs whose matrix has no such key, and jobs without a matrix, run as usual (as act does).
    assert "lint ran" in result.stdout
    assert "docs ran with sphinx 7" in result.stdout and "docs ran with sphinx 8" in result.stdout


def test_matrix_values_are_compared_as_text_whatever_their_yaml_type(repo, tmp_path):
    workflow_repo(repo, MATRIX_WORKFLOW)
    result = run(
        repo,
        "--matrix",
        "python-version=3.11",
        "--matrix",
        "python-version=3.12",
        "--matrix",
        "sphinx=8",
        config_home=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tests ran on 3.11" in result.stdout and "tests ran on 3.12" in result.stdout
    assert "tests ran on 3.13" not in result.stdout
    assert "docs ran with sphinx 8" in result.stdout
    assert "docs ran with sphinx 7" not in result.stdout


def test_matrix_works_with_job(repo, tmp_path):
    workflow_repo(repo, MATRIX_WORKFLOW)
    result = run(repo, "--job", "tests", "--matrix", "python-version=3.13", config_home=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tests ran on 3.13" in result.stdout
    assert "lint ran" not in result.stdout and "docs ran" not in result.stdout
    assert "tests ran on 3.11" not in result.stdout


def test_matrix_that_leaves_a_job_no_leg_names_the_legs_before_anything_runs(repo, tmp_path):
    workflow_repo(repo, MATRIX_WORKFLOW)
    result = run(repo, "--matrix", "python-version=3.9", config_home=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "conveyor: .github/workflows/ci.yml:10:7: --matrix python-version=3.9 matches no leg "
        "of job 'tests': its legs are tests (3.11, ubuntu-latest), tests (3.12, ubuntu-latest), "
        "tests (3.13, ubuntu-latest)\n"
    )
    assert result.stdout == ""


def test_matrix_with_a_key_no_job_has_is_refused(repo, tmp_path):
    workflow_repo(repo, MATRIX_WORKFLOW)
    result = run(repo, "--matrix", "python=3.12", config_home=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "conveyor: --matrix python: no job that runs has a matrix key 'python' "
        "(keys: os, python-version, sphinx)\n"
    )


def test_matrix_without_a_value_is_refused(repo, tmp_path):
    workflow_repo(repo, MATRIX_WORKFLOW)
    result = run(repo, "--matrix", "python-version", config_home=tmp_path)
    assert result.returncode == 2
    assert "expected KEY=VALUE" in result.stderr


def test_a_service_whose_image_an_expression_leaves_empty_needs_no_mapping(repo, tmp_path):
    workflow_repo(
        repo,
        """\
on: push
jobs:
  tests:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        db: ['', 'redis:7']
    services:
      cache:
        image: ${{ matrix.db }}
    steps:
      - run: echo "leg [${{ matrix.db }}] ran"
""",
    )
    empty_leg = run(repo, "--matrix", "db=", config_home=tmp_path)
    assert empty_leg.returncode == 0, empty_leg.stdout + empty_leg.stderr
    assert "leg [] ran" in empty_leg.stdout
    redis_leg = run(repo, "--matrix", "db=redis:7", config_home=tmp_path)
    assert redis_leg.returncode == 1
    assert "service 'cache' is not mapped to a running service" in redis_leg.stdout
    assert "leg [redis:7] ran" not in redis_leg.stdout
