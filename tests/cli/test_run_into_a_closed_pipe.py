"""`conveyor run | head`: the reader leaving early changes nothing about the run.

A real pipe whose read end the test closes mid-run; the steps go on printing after
that, the run finishes, and the exit code is the pipeline's own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import conveyor_env

# The first step waits for the test to close the pipe, then prints on into it; the
# last step leaves a mark that the run went on to the end.
WORKFLOW = """\
steps:
  - name: Talk
    run: |
      echo "$((6 * 7))-go"
      while [ ! -e ../gate ]; do sleep 0.05; done
      seq 1 2000
  - name: Judge
    run: exit {code}
  - name: Mark
    if: always()
    run: touch ../marked
"""


@pytest.mark.parametrize("view", ["plain", "live"])
@pytest.mark.parametrize("code", [0, 1])
def test_a_closed_stdout_leaves_the_result_to_the_pipeline(
    repo: Path, code: int, view: str
) -> None:
    (repo / ".conveyor.yml").write_text(WORKFLOW.format(code=code))
    colour = ["--color", "always"] if view == "live" else []
    process = subprocess.Popen(
        [sys.executable, "-m", "conveyor", "run", *colour],
        cwd=repo,
        env=conveyor_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    for line in process.stdout:
        if "42-go" in line:
            break
    process.stdout.close()  # what `head` does once it has its lines
    (repo.parent / "gate").touch()
    stderr = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=120) == code, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert (repo.parent / "marked").exists()
