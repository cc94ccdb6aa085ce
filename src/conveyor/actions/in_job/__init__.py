"""Programs that run INSIDE a job (in its sandbox on the server), not in the engine.

They touch the job's own files, which are untrusted: following a link, reading a file
or running git there (a ``.git/config`` may name a program to run) is safe only with the
job's own rights. Each is plain Python 3 without Conveyor's imports, handed to the job's
``python3`` with ``-c``, or a POSIX shell script handed to ``sh -c``; ``source(name)``
reads one (``name`` with its extension, ``.py`` by default).
"""

from __future__ import annotations

import os

# The interpreter the in-job programs run with: the job's own python3.
JOB_PYTHON = "python3"


def source(name: str) -> str:
    if "." not in name:
        name += ".py"
    with open(os.path.join(os.path.dirname(__file__), name), encoding="utf-8") as handle:
        return handle.read()
