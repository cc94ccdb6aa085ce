"""The attacker's probe: repository B's workflow hunts for repository A's secret.

A real `conveyor server` holds a secret for repository A. Repository B's workflow
walks up from its workspace, lists and reads every file it can under the data
directory (whose path it is even told), reads the key files, and runs the server's
own interpreter to decrypt the secrets table with any key it finds. Sandboxed,
A's secret appears nowhere in B's log, in any encoding, nor do the keys. Started
with --no-sandbox, the same workflow prints A's secret: the probe is real.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.server.conftest import (
    GitProject,
    ServerProcess,
    git,
    start_server,
)
from tests.server.test_push_e2e import issue_token, push, repo_add, stop, wait_for_status

pytestmark = pytest.mark.slow  # real server processes

A_SECRET = "a-secret-Zq8Lw3Kp9Vx"

DECRYPT = """
import pathlib, sqlite3, sys
from cryptography.fernet import Fernet, MultiFernet
data = pathlib.Path(sys.argv[1])
keys = (data / "encryption_keys").read_text().split()
box = MultiFernet([Fernet(key) for key in keys])
rows = sqlite3.connect(data / "conveyor.sqlite3").execute(
    "select name, value_encrypted from repos_secret")
for name, token in rows:
    print("DECRYPTED", name, box.decrypt(token.encode()).decode())
"""


def probe_script(data: Path) -> str:
    return f"""\
DATA={data}
echo "whoami: $(id)"
dir="$PWD"
while [ "$dir" != / ]; do dir=$(dirname "$dir"); ls -la "$dir" || true; done
ls -laR "$DATA" | head -200 || true
find "$DATA" -type f 2>/dev/null | while read -r file; do
  echo "FILE $file"; head -c 4096 "$file" | base64 -w0 || true; echo
done
cat "$DATA/encryption_keys" "$DATA/secret_key" || true
ls /proc | head -50; cat /proc/*/cmdline 2>/dev/null | tr '\\0' ' ' | head -c 4000 || true
PY={sys.executable}
[ -x "$PY" ] || PY=$(readlink /proc/$PPID/exe)
"$PY" decrypt.py "$DATA" || echo "decrypting failed"
umount /tmp 2>&1 || true; umount -l "$PWD" 2>&1 || true
"""


PROBE_WORKFLOW = """\
on: push
jobs:
  probe:
    runs-on: ubuntu-latest
    steps:
      - run: bash probe.sh
"""


def put_secret(server: ServerProcess, token: str, repository: str, value: str) -> None:
    request = urllib.request.Request(
        f"{server.url}/api/repositories/{repository}/secrets/DEPLOY_KEY",
        data=json.dumps({"value": value}).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201)


def new_project(tmp_path: Path, name: str) -> GitProject:
    bare, work = tmp_path / f"{name}.git", tmp_path / name
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    git("init", "-q", "-b", "main", str(work), cwd=tmp_path)
    git("remote", "add", "origin", str(bare), cwd=work)
    return GitProject(bare=bare, work=work)


def encodings(value: str) -> list[str]:
    raw = value.encode()
    forms = [value]
    for offset in range(3):  # base64 of the value at each alignment in a longer text
        encoded = base64.b64encode(b"x" * offset + raw).decode()
        whole_groups = (offset + len(raw)) // 3
        first_group = 1 if offset else 0  # groups holding only the value's own bytes
        forms.append(encoded[4 * first_group : 4 * whole_groups])
    return [form for form in forms if len(form) >= 8]


def run_probe(tmp_path: Path, *, sandbox: bool) -> tuple[str, str, Path]:
    data = tmp_path / "data"
    data.mkdir()
    server = start_server(data, extra_args=[] if sandbox else ["--no-sandbox"])
    try:
        token = issue_token(server)
        victim, attacker = new_project(tmp_path, "victim"), new_project(tmp_path, "attacker")
        repo_add(server, victim, "victim")
        repo_add(server, attacker, "attacker")
        put_secret(server, token, "victim", A_SECRET)
        attacker.commit(
            {
                ".conveyor.yml": PROBE_WORKFLOW,
                "probe.sh": probe_script(data),
                "decrypt.py": DECRYPT,
            },
            "probe",
        )
        push(attacker)
        run = wait_for_status(server, token, 1, repository="attacker", timeout=60)
        with sqlite3.connect(data / "conveyor.sqlite3") as database:
            log = "\n".join(text for (text,) in database.execute("select text from runs_logchunk"))
        return run["status"], f"{run['reason']}\n{log}", data
    finally:
        stop(server)


def test_a_sandboxed_workflow_finds_no_other_repositorys_secret(tmp_path: Path):
    status, log, data = run_probe(tmp_path, sandbox=True)
    assert status == "success", log[-3000:]
    assert "whoami:" in log  # the probe ran
    for form in encodings(A_SECRET):
        assert form not in log
    for key_file in ("encryption_keys", "secret_key"):
        key = (data / key_file).read_text().strip()
        for form in encodings(key):
            assert form not in log, key_file
    assert "DECRYPTED" not in log
    assert "must be superuser to unmount" in log or "Operation not permitted" in log


def test_without_the_sandbox_the_same_probe_steals_the_secret(tmp_path: Path):
    status, log, _ = run_probe(tmp_path, sandbox=False)
    assert status == "success", log[-3000:]
    assert f"DECRYPTED DEPLOY_KEY {A_SECRET}" in log
