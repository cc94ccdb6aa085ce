"""Programs that run INSIDE a job (in its sandbox on the server), not in the engine.

They touch the job's own files, which are untrusted: following a link or reading a
file there is safe only with the job's own rights. Each is plain Python 3 without
Conveyor's imports, handed to the job's ``python3`` with ``-c``; ``source(name)`` reads
one.
"""

from __future__ import annotations

import os


def source(name: str) -> str:
    with open(os.path.join(os.path.dirname(__file__), name + ".py"), encoding="utf-8") as handle:
        return handle.read()
