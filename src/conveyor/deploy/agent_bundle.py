"""The deploy agent an ssh:// target runs: this package (``conveyor.deploy``, which
imports nothing else of Conveyor) as a zipapp, named by the hash of its sources so that
a target gets it again only when the code changed."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import zipfile

# Run by the target's python3 as `python3 <agent>.pyz COMMAND`. Written for any python3:
# an old one must be told it is too old, not fail on syntax it does not know.
MAIN = """import sys
if sys.version_info < (3, 11):
    sys.stderr.write("python3 on the target is %d.%d: the deploy needs 3.11 or later\\n"
                     % sys.version_info[:2])
    sys.exit(3)
from conveyor.deploy.agent import main
sys.exit(main(sys.argv[1:]))
"""
PACKAGE_INIT = '"""Conveyor\'s deploy agent (only conveyor.deploy)."""\n'
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same sources, the same archive


def _sources() -> list[tuple[str, bytes]]:
    here = os.path.dirname(os.path.abspath(__file__))
    files = [("__main__.py", MAIN.encode()), ("conveyor/__init__.py", PACKAGE_INIT.encode())]
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            with open(os.path.join(here, name), "rb") as file:
                files.append((f"conveyor/deploy/{name}", file.read()))
    return files


@functools.cache
def bundle() -> tuple[str, bytes]:
    """(the agent's content hash, its zipapp bytes)."""
    sources = _sources()
    digest = hashlib.sha256()
    for name, data in sources:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in sources:
            info = zipfile.ZipInfo(name, _EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zipped.writestr(info, data)
    return digest.hexdigest()[:16], archive.getvalue()
