"""Failed tests named by the JUnit XML reports a failed step wrote.

A runner whose output says little (or was sent elsewhere) may still leave a JUnit
report; after a failed ``run:`` step a few places are looked at: the ``.xml`` paths
its script names (``--junitxml=build/results.xml``) and the usual spots
(``junit*.xml``, ``test-results/*.xml``, ...) in its working directory. Only
reports written while the step ran count, and only regular files that really lie in
the workspace (a step may plant links), a bounded number of a bounded size.
"""

from __future__ import annotations

import glob
import os
import re
import xml.etree.ElementTree as ElementTree

from conveyor.engine.failed_tests import KEPT_IDS
from conveyor.engine.host_files import open_regular

_USUAL = ("junit*.xml", "test-results/*.xml", "test-reports/*.xml", "reports/*.xml")
_NAMED = re.compile(r"""(?:^|[\s='"])([\w./-]+\.xml)\b""")
_MAX_FILES = 20
_MAX_BYTES = 20 * 1024 * 1024
# A report written in the step's first second may carry a time stamp just before it.
_CLOCK_SLACK = 1.0
# Enough ids for the summary to name its few and count a good many more.
_MAX_IDS = 10_000 + KEPT_IDS


def junit_failures(script: str, cwd: str, workspace: str, since: float) -> list[str]:
    """Ids (``classname.name``) of the failed and errored test cases in the reports."""
    root = os.path.realpath(workspace)
    paths = [os.path.join(cwd, named) for named in _NAMED.findall(script)]
    for pattern in _USUAL:
        paths.extend(sorted(glob.glob(os.path.join(glob.escape(cwd), pattern))))
    failures: list[str] = []
    seen: set[str] = set()
    for path in paths[: _MAX_FILES * 4]:
        real = os.path.realpath(path)
        if real in seen or os.path.commonpath([root, real]) != root:
            continue
        seen.add(real)
        try:
            data = _read_report(real, root, since)
        except OSError:
            continue
        if data:
            failures.extend(_failed_cases(data))
        if len(seen) >= _MAX_FILES or len(failures) >= _MAX_IDS:
            break
    return list(dict.fromkeys(failures))[:_MAX_IDS]


def _read_report(path: str, root: str, since: float) -> bytes:
    """The report's bytes; b"" when it is old, not a regular file or not in ``root``.

    Checked on the open file: a process the step left behind could swap a directory
    of the path for a link between the check above and the open.
    """
    fd = open_regular(path, os.O_RDONLY)
    if fd is None:
        return b""
    try:
        opened = os.readlink(f"/proc/self/fd/{fd}")
        if os.path.commonpath([root, opened]) != root:
            return b""
        if os.fstat(fd).st_mtime < since - _CLOCK_SLACK:
            return b""  # an old report: not this step's
        chunks: list[bytes] = []
        left = _MAX_BYTES
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _failed_cases(data: bytes) -> list[str]:
    try:
        document = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return []  # not XML, or cut at the size limit: nothing to trust in it
    if document.tag not in ("testsuites", "testsuite"):
        return []
    failed: list[str] = []
    for case in document.iter("testcase"):
        if case.find("failure") is None and case.find("error") is None:
            continue
        name = case.get("name", "")
        classname = case.get("classname", "")
        if name:
            failed.append(f"{classname}.{name}" if classname else name)
    return failed
