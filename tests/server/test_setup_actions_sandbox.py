"""Setup actions on the server: inside the job's sandbox only what the sandbox shows counts.

The server (run by root here) keeps pyenv's interpreters under /root, which the
sandbox hides; /usr is shown. So setup-python picks a /usr interpreter and a later
`python` step runs it inside the sandbox, while asking for a version only /root has
fails, naming it as not visible to the sandbox rather than lending it to the job.
An "interpreter" the job plants in its workspace and puts on PATH is never run by
the engine (which runs outside the sandbox) to ask its version.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.conftest import GitProject, start_server
from tests.server.test_push_e2e import issue_token, push, repo_add, stop, wait_for_status

pytestmark = [
    pytest.mark.slow,  # a real server process
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap"),
]

SYSTEM_PYTHONS = sorted(
    path.name.removeprefix("python")
    for path in Path("/usr/bin").glob("python3.*")
    if path.name.removeprefix("python3.").isdigit()
)
HIDDEN = sorted(
    path.name
    for path in (Path.home() / ".pyenv" / "versions").glob("3.*")
    if not any(path.name.startswith(minor + ".") for minor in SYSTEM_PYTHONS)
)

WORKFLOW = """\
on: push
jobs:
  visible:
    runs-on: ubuntu-latest
    steps:
      - id: py
        uses: actions/setup-python@v5
        with:
          python-version: "{visible}"
      - run: python -c "import sys; print('inside', sys.executable, sys.version_info[:2])"
      - run: echo "chose ${{{{ steps.py.outputs.python-path }}}}"
      - run: |
          python make_wheel.py
          pip install --no-index --quiet hello_conveyor-1.0-py3-none-any.whl
          python -c "import hello_conveyor; print(hello_conveyor.GREETING)"
      - uses: actions/setup-node@v4
        with:
          node-version: "*"
      - uses: actions/github-script@v7
        with:
          script: core.info(`script in the sandbox of ${{context.repo.repo}}`)
  hidden:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@v5
        with:
          python-version: "{hidden}"
  planted:
    runs-on: ubuntu-latest
    steps:
      - run: |
          mkdir -p bin
          printf '#!/bin/sh\\ntouch {marker}\\n' > bin/python3.77
          chmod +x bin/python3.77
      - uses: actions/setup-python@v5
        env:
          PATH: ${{{{ github.workspace }}}}/bin:/usr/bin:/bin
        with:
          python-version: "3.77"
"""


MAKE_WHEEL = """\
import zipfile
info = "hello_conveyor-1.0.dist-info"
files = {
    "hello_conveyor.py": "GREETING = 'hello from a wheel'\\n",
    info + "/METADATA": "Metadata-Version: 2.1\\nName: hello-conveyor\\nVersion: 1.0\\n",
    info + "/WHEEL": "Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
with zipfile.ZipFile("hello_conveyor-1.0-py3-none-any.whl", "w") as archive:
    for name, text in files.items():
        archive.writestr(name, text)
    archive.writestr(info + "/RECORD", "".join(n + ",,\\n" for n in files) + info + "/RECORD,,\\n")
"""


@pytest.mark.skipif(not SYSTEM_PYTHONS, reason="needs a /usr/bin/python3.X")
def test_setup_python_in_the_sandbox_uses_what_the_sandbox_sees(
    tmp_path: Path, git_project: GitProject
):
    if sys.platform != "linux":
        pytest.skip("bubblewrap sandbox")
    visible = SYSTEM_PYTHONS[-1]
    system_version = subprocess.run(
        [f"/usr/bin/python{visible}", "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    hidden = HIDDEN[-1] if HIDDEN else "3.99"
    # Where a planted "interpreter" would leave its mark if the engine ran it on the host.
    marker = tmp_path / "planted-interpreter-ran-on-the-host"
    data = tmp_path / "data"
    data.mkdir()
    server = start_server(data)
    try:
        repo_add(server, git_project)
        token = issue_token(server)
        git_project.commit(
            {
                ".github/workflows/ci.yml": WORKFLOW.format(
                    visible=visible, hidden=hidden, marker=marker
                ),
                "make_wheel.py": MAKE_WHEEL,
            },
            "ci",
        )
        push(git_project)
        run = wait_for_status(server, token, 1, timeout=60)
        with sqlite3.connect(data / "conveyor.sqlite3") as database:
            log = "\n".join(text for (text,) in database.execute("select text from runs_logchunk"))
    finally:
        stop(server)
    assert run["status"] == "failure", log[-3000:]  # the hidden and planted jobs
    assert not marker.exists()
    assert "no Python matching '3.77'" in log
    major, minor = visible.split(".")
    assert f"inside /usr/bin/python{visible}" not in log  # `python` is the job's name for it
    assert f"({major}, {minor})" in log
    # pip cannot install into /usr (read-only here, and the system's): the job's own
    # virtual environment stands in for it, and pip install works there.
    assert f"Using Python {system_version} at /usr/bin/python{visible}" in log
    assert "/runner_temp/setup-python-venv/" in log.split("chose ", 1)[1].splitlines()[0]
    assert "hello from a wheel" in log
    # setup-node and github-script use the system's node, which the sandbox shows.
    assert "Using Node.js v" in log and "script in the sandbox of shop" in log
    assert f"no Python matching '{hidden}'" in log
    if HIDDEN:
        assert "Not visible inside the job's sandbox, so not used:" in log
        assert f"/root/.pyenv/versions/{hidden}/bin/python" in log
