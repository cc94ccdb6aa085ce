"""The real Python interpreters of this machine, shown to a test through a pyenv root of its own.

A test gets ``PYENV_ROOT`` pointing at a directory of symbolic links to real
installations, each named by the version its interpreter reports, so what a
test expects does not depend on what else the machine has in ``~/.pyenv``.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from conveyor.actions.version_specs import Version

PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
SYSTEM_PATH = "/usr/bin:/bin"


@dataclass(frozen=True)
class Installation:
    prefix: Path  # has bin/python
    version: Version


def real_installations() -> list[Installation]:
    """pyenv's CPython 3 installations here, one per minor version, newest patch."""
    found: dict[str, Installation] = {}
    if not PYENV_VERSIONS.is_dir():
        return []
    for prefix in sorted(PYENV_VERSIONS.iterdir()):
        python = prefix / "bin" / "python"
        if not python.exists() or (prefix / "pyvenv.cfg").exists():
            continue
        completed = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
        )
        if completed.returncode != 0 or not completed.stdout.startswith("3."):
            continue
        version = Version.parse(completed.stdout.strip())
        known = found.get(version.minor)
        if known is None or known.version < version:
            found[version.minor] = Installation(prefix, version)
    return sorted(found.values(), key=lambda installation: installation.version)


INSTALLATIONS = real_installations()
needs_three = pytest.mark.skipif(
    len(INSTALLATIONS) < 3, reason="needs three minor versions of CPython 3 under pyenv"
)


def pyenv_root(directory: Path, installations: list[Installation], extra: dict[str, Path]) -> Path:
    """A pyenv root whose versions/ links to ``installations`` (and ``extra`` names)."""
    versions = directory / "versions"
    versions.mkdir(parents=True)
    for installation in installations:
        (versions / str(installation.version)).symlink_to(installation.prefix)
    for name, target in extra.items():
        (versions / name).symlink_to(target)
    return directory


def machine_env(tmp_path: Path, extra_versions: dict[str, Path] | None = None) -> dict[str, str]:
    """A job environment that sees the real installations through a pyenv root of its own."""
    root = pyenv_root(tmp_path / "pyenv", INSTALLATIONS, extra_versions or {})
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": SYSTEM_PATH,
        "HOME": str(home),
        "PYENV_ROOT": str(root),
        "LANG": "C.UTF-8",
    }
