"""Which tools a sandboxed job may be lent: the system's, never what it can write."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.executors.test_sandbox import job

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")


def test_only_read_only_places_hold_usable_tools():
    place = Path(tempfile.mkdtemp(prefix="conveyor-sandbox-tools-"))
    place.chmod(0o711)
    shown = place / "shown"
    shown.mkdir()
    host = job(place, readonly_paths=(str(shown),))
    try:
        assert host.can_use_tool("/usr/bin/env")
        # Read-only, but the repository's content (borrowed git objects), not the machine's.
        assert not host.can_use_tool(str(shown / "bin" / "tool"))
        # What the job can change, and what it cannot see at all.
        assert not host.can_use_tool(os.path.join(host.workspace, "bin", "python3"))
        assert not host.can_use_tool(os.path.join(host.temp_dir, "python3"))
        assert not host.can_use_tool(str(place / "elsewhere" / "python3"))
        # A link is judged where it leads.
        (shown / "link").symlink_to("/usr/bin")
        assert host.can_use_tool(str(shown / "link" / "env"))
    finally:
        host.close()
        shutil.rmtree(place, ignore_errors=True)
