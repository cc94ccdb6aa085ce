"""Settings from the environment, kept keys, the admin account, `conveyor server --help`."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from conveyor.server import conf
from conveyor.server.repos import crypto
from tests.server.conftest import ROOT, server_environment


def test_typed_helpers_name_the_variable_when_a_value_is_wrong(monkeypatch):
    monkeypatch.setenv("CONVEYOR_DEBUG", "maybe")
    with pytest.raises(conf.SettingError, match="CONVEYOR_DEBUG='maybe': expected true or false"):
        conf.env_bool("CONVEYOR_DEBUG")
    monkeypatch.setenv("CONVEYOR_DEBUG", "Yes")
    assert conf.env_bool("CONVEYOR_DEBUG") is True
    monkeypatch.setenv("CONVEYOR_WORKERS", "two")
    with pytest.raises(conf.SettingError, match="CONVEYOR_WORKERS='two': expected a whole number"):
        conf.env_int("CONVEYOR_WORKERS", 2)
    monkeypatch.setenv("CONVEYOR_WORKERS", "-1")
    with pytest.raises(conf.SettingError, match="at least 0"):
        conf.env_int("CONVEYOR_WORKERS", 2, minimum=0)
    monkeypatch.setenv("CONVEYOR_ALLOWED_HOSTS", " ci.example.com, ,localhost ")
    assert conf.env_list("CONVEYOR_ALLOWED_HOSTS") == ["ci.example.com", "localhost"]


def test_generated_keys_are_kept_private_and_stable(tmp_path, monkeypatch):
    monkeypatch.delenv("CONVEYOR_SECRET_KEY", raising=False)
    monkeypatch.delenv("CONVEYOR_ENCRYPTION_KEYS", raising=False)
    first = conf.secret_key(tmp_path)
    assert conf.secret_key(tmp_path) == first and len(first) >= 50
    keys = conf.encryption_keys(tmp_path)
    assert conf.encryption_keys(tmp_path) == keys
    Fernet(keys[0].encode())  # a usable Fernet key
    for name in ("secret_key", "encryption_keys"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    monkeypatch.setenv("CONVEYOR_SECRET_KEY", "from-the-environment")
    assert conf.secret_key(tmp_path) == "from-the-environment"


def test_encryption_keys_rotate_newest_first(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [old]
    token = crypto.encrypt("hunter2")
    settings.ENCRYPTION_KEYS = [new, old]
    assert crypto.decrypt(token) == "hunter2"
    rotated = crypto.rotate(token)
    settings.ENCRYPTION_KEYS = [new]
    assert crypto.decrypt(rotated) == "hunter2"
    with pytest.raises(crypto.SecretUnreadable, match="CONVEYOR_ENCRYPTION_KEYS"):
        crypto.decrypt(token)


@pytest.mark.django_db
def test_sqlite_runs_in_wal_mode_with_immediate_transactions(settings):
    if connection.vendor != "sqlite":
        pytest.skip("the tests run on PostgreSQL (CONVEYOR_TEST_DATABASE_URL)")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 10_000
    assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def _settings_in_subprocess(env: dict[str, str], expression: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            f"from conveyor.server import settings as s; print({expression})",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_database_url_selects_postgresql(tmp_path):
    env = server_environment(tmp_path, DATABASE_URL="postgres://ci:pw@db.example.com:5433/conveyor")
    completed = _settings_in_subprocess(
        env, "s.DATABASES['default']['ENGINE'], s.DATABASES['default']['HOST']"
    )
    assert completed.returncode == 0, completed.stderr
    assert "postgresql" in completed.stdout and "db.example.com" in completed.stdout


def test_allowed_hosts_include_the_host_of_conveyor_url(tmp_path):
    env = server_environment(tmp_path, CONVEYOR_URL="https://ci.example.com/")
    completed = _settings_in_subprocess(env, "s.ALLOWED_HOSTS, s.CONVEYOR_URL")
    assert completed.returncode == 0, completed.stderr
    assert "'ci.example.com'" in completed.stdout
    assert completed.stdout.rstrip().endswith(" https://ci.example.com")


def test_server_help_lists_every_setting():
    completed = subprocess.run(
        [sys.executable, "-m", "conveyor", "server", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert completed.returncode == 0
    for setting in conf.SETTINGS:
        assert setting.name in completed.stdout
    for flag in ("--host", "--port", "--data", "--workers"):
        assert flag in completed.stdout


@pytest.mark.parametrize(
    ("extra", "args", "message"),
    [
        ({"CONVEYOR_WORKERS": "many"}, [], "CONVEYOR_WORKERS='many': expected a whole number"),
        ({"CONVEYOR_DEBUG": "perhaps"}, [], "CONVEYOR_DEBUG='perhaps': expected true or false"),
        ({}, ["--port", "70000"], "--port 70000: not a TCP port"),
        ({"DATABASE_URL": "nosuchdb://x/y"}, [], "DATABASE_URL: Scheme 'nosuchdb://' is unknown"),
    ],
)
def test_bad_settings_stop_the_server_with_a_clear_message(tmp_path, extra, args, message):
    completed = subprocess.run(
        [sys.executable, "-m", "conveyor", "server", "--data", str(tmp_path / "d"), *args],
        env=server_environment(tmp_path / "d", **extra),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert completed.returncode == 2
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.django_db
def test_first_start_creates_the_admin_and_prints_how_to_log_in(capsys, monkeypatch):
    from django.contrib.auth import get_user_model

    from conveyor.commands.server import ensure_admin

    monkeypatch.delenv("CONVEYOR_ADMIN_PASSWORD", raising=False)
    monkeypatch.setenv("CONVEYOR_ADMIN_USER", "boss")
    ensure_admin("http://127.0.0.1:8000")
    out = capsys.readouterr().out
    user = get_user_model().objects.get(username="boss")
    password = out.split("with password ", 1)[1].split()[0]
    assert user.is_superuser and user.check_password(password)
    assert user.profile.role == "admin"
    assert "http://127.0.0.1:8000/login/" in out
    ensure_admin("http://127.0.0.1:8000")  # the second start says nothing
    assert capsys.readouterr().out == ""
    assert os.environ["DJANGO_SETTINGS_MODULE"] == "conveyor.server.settings"


def test_a_port_already_taken_stops_the_server_with_a_clear_message(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        completed = subprocess.run(
            [sys.executable, "-m", "conveyor", "server", "--port", str(port)],
            env=server_environment(tmp_path / "d"),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
    assert completed.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in completed.stderr
    assert "address already in use" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert "Conveyor server on" not in completed.stdout


@pytest.mark.parametrize(
    ("extra", "args", "message"),
    [
        (
            {"CONVEYOR_BROKER_URL": "redis://127.0.0.1:6379/11"},
            [],
            "CONVEYOR_WORKER_TOKEN: required when CONVEYOR_BROKER_URL is set",
        ),
        (
            {"CONVEYOR_BROKER_URL": "http://user:hidden@broker/", "CONVEYOR_WORKER_TOKEN": "t"},
            [],
            "CONVEYOR_BROKER_URL=http://...: expected a redis://, rediss:// or amqp:// URL",
        ),
        ({}, ["--no-workers"], "--no-workers needs CONVEYOR_BROKER_URL"),
    ],
)
def test_a_scaled_out_server_without_what_it_needs_refuses_to_start(tmp_path, extra, args, message):
    completed = subprocess.run(
        [sys.executable, "-m", "conveyor", "server", "--data", str(tmp_path / "d"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**server_environment(tmp_path / "d"), **extra},
        timeout=60,
    )
    assert completed.returncode == 2, completed.stderr
    [line] = completed.stderr.strip().splitlines()
    assert line.startswith(f"conveyor server: {message}")
    assert "hidden" not in completed.stderr
