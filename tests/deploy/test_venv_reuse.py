"""A release's venv made from an earlier release's: real venvs made by this python's
``venv``, copied by hard links, the copy's scripts and interpreter working from the new
place."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.deploy import venv_reuse


def make_venv(release: Path) -> Path:
    """A real venv (no pip: fast) with a console script as pip would write it."""
    venv = release / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    package = next((venv / "lib").glob("python*")) / "site-packages" / "greeting.py"
    package.write_text("def main():\n    print('hello from', __file__)\n")
    script = venv / "bin" / "gunicorn"
    script.write_text(
        f"#!{venv}/bin/python\nimport sys\nfrom greeting import main\nsys.exit(main())\n"
    )
    script.chmod(0o755)
    return venv


def requirements(release: Path, text: str = "Django==5.2\ngunicorn\n") -> str:
    path = release / "requirements.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_the_copy_links_packages_and_runs_from_its_new_place(tmp_path: Path) -> None:
    old = make_venv(tmp_path / "releases" / "1")
    new = tmp_path / "releases" / "2" / ".venv"
    count = venv_reuse.copy(str(old), str(new))
    assert count > 0
    module = next((new / "lib").glob("python*")) / "site-packages" / "greeting.py"
    old_module = next((old / "lib").glob("python*")) / "site-packages" / "greeting.py"
    assert module.stat().st_ino == old_module.stat().st_ino  # a link, no bytes copied
    # The script names its own venv's python, and is a file of its own.
    script = new / "bin" / "gunicorn"
    assert script.read_text().startswith(f"#!{new}/bin/python\n")
    assert script.stat().st_ino != (old / "bin" / "gunicorn").stat().st_ino
    assert os.access(script, os.X_OK)
    assert str(old) not in (new / "bin" / "activate").read_text()
    assert str(old) not in (new / "pyvenv.cfg").read_text()
    # The copied interpreter is the new venv's, and finds the linked package there.
    ran = subprocess.run([str(script)], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == f"hello from {module}"
    prefix = subprocess.run(
        [str(new / "bin" / "python"), "-c", "import sys; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert prefix.stdout.strip() == str(new)


def test_the_newest_release_made_from_the_same_key_is_found(tmp_path: Path) -> None:
    releases = tmp_path / "releases"
    key = venv_reuse.key(requirements(tmp_path / "project"), sys.executable)
    assert key is not None
    for name in ("20260101T000000000Z-a", "20260102T000000000Z-b"):
        venv = make_venv(releases / name)
        venv_reuse.mark(str(venv), key)
    other = make_venv(releases / "20260103T000000000Z-c")
    venv_reuse.mark(str(other), "another key")
    found = venv_reuse.find(str(releases), "20260104T000000000Z-d", key)
    assert found == str(releases / "20260102T000000000Z-b" / ".venv")
    # Never the release itself, nor a venv without gunicorn, nor a venv never marked.
    assert venv_reuse.find(str(releases), "20260102T000000000Z-b", key) == str(
        releases / "20260101T000000000Z-a" / ".venv"
    )
    (releases / "20260102T000000000Z-b" / ".venv" / "bin" / "gunicorn").unlink()
    os.unlink(releases / "20260101T000000000Z-a" / ".venv" / venv_reuse.KEY_FILE)
    assert venv_reuse.find(str(releases), "20260104T000000000Z-d", key) is None
    assert venv_reuse.find(str(releases), "x", None) is None


def test_a_copy_is_unmarked_until_marked_and_the_original_keeps_its_key(tmp_path: Path) -> None:
    old = make_venv(tmp_path / "releases" / "1")
    venv_reuse.mark(str(old), "first")
    new = tmp_path / "releases" / "2" / ".venv"
    venv_reuse.copy(str(old), str(new))
    assert not (new / venv_reuse.KEY_FILE).exists()  # cut short, it would not be found
    venv_reuse.mark(str(new), "second")
    assert (old / venv_reuse.KEY_FILE).read_text() == "first\n"
    assert (new / venv_reuse.KEY_FILE).read_text() == "second\n"


def test_the_key_follows_the_requirements_bytes_and_the_python(tmp_path: Path) -> None:
    first = venv_reuse.key(requirements(tmp_path / "a"), sys.executable)
    same = venv_reuse.key(requirements(tmp_path / "b"), sys.executable)
    changed = venv_reuse.key(
        requirements(tmp_path / "c", "Django==5.2\ngunicorn==23\n"), sys.executable
    )
    # Another interpreter file (a copy: another path, another mtime).
    other_python = tmp_path / "python"
    other_python.write_bytes(Path(os.path.realpath(sys.executable)).read_bytes())
    other = venv_reuse.key(requirements(tmp_path / "d"), str(other_python))
    assert first == same
    assert len({first, changed, other}) == 3


@pytest.mark.parametrize(
    "line",
    [
        "-e .",
        "-r base.txt",
        "-c constraints.txt",
        "./libs/shop",
        "/opt/wheel.whl",
        "shop @ file:///x",
    ],
)
def test_requirements_naming_local_files_are_installed_each_time(tmp_path: Path, line: str) -> None:
    assert venv_reuse.key(requirements(tmp_path, f"gunicorn\n{line}\n"), sys.executable) is None
