"""A release's virtualenv made from an earlier release's, when both would hold the same
packages: the same ``requirements.txt`` and the same interpreter.

Resolving and installing the requirements again (pip, even from a warm cache) costs
seconds; the earlier release already has the result. Its files are hard-linked into the
new release's ``.venv`` (one inode, no bytes copied), except the few that name the old
venv's path (``bin/`` scripts' ``#!`` lines, ``activate``, ``pyvenv.cfg``), which are
written anew. A hard link is never written through: nothing a deploy or Python does
writes a package file in place (a new ``.pyc`` replaces the old one), and removing a
release only unlinks its names.

A ``.pyc`` keeps the path it was compiled at, but Python replaces it with the source's
real path when it loads the file, so tracebacks name the new release's files.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil

# In the venv, after a successful install: the key of what it was made from.
KEY_FILE = "conveyor-venv-key"

# Lines that make the install depend on more than requirements.txt's own bytes: another
# file (-r, -c), the project itself or a local path (-e, ./x, /x, file:). Such a
# venv is installed anew each time.
_LOCAL_REFERENCE = re.compile(r"^\s*(-r|-c|-e|--requirement|--constraint|--editable|\.|/|file:)")


def key(requirements: str, python: str) -> str | None:
    """What decides the venv's contents: ``requirements.txt``'s bytes and the interpreter
    (its real path, size and modification time: an upgraded python is a new file). None
    when the requirements point at local files, whose contents the key cannot see."""
    with open(requirements, "rb") as file:
        content = file.read()
    for line in content.decode(errors="replace").splitlines():
        if _LOCAL_REFERENCE.match(line) or "file:" in line:
            return None
    real = os.path.realpath(python)
    try:
        found = os.stat(real)
    except OSError:
        return None
    digest = hashlib.sha256(content)
    digest.update(f"\0{real}\0{found.st_size}\0{found.st_mtime_ns}".encode())
    return digest.hexdigest()


def mark(venv: str, venv_key: str | None) -> None:
    """Record what the (fully installed) venv was made from."""
    if venv_key is None:
        return
    path = os.path.join(venv, KEY_FILE)
    # A new file, never one written through: a copied venv's key is a hard link.
    with open(path + ".new", "w", encoding="ascii") as file:
        file.write(venv_key + "\n")
    os.replace(path + ".new", path)


def find(releases_dir: str, own_release: str, venv_key: str | None) -> str | None:
    """The newest other release's venv made from ``venv_key`` that still has gunicorn."""
    if venv_key is None:
        return None
    try:
        names = sorted(os.listdir(releases_dir), reverse=True)
    except OSError:
        return None
    for name in names:
        venv = os.path.join(releases_dir, name, ".venv")
        if name == own_release or not os.path.exists(os.path.join(venv, "bin", "gunicorn")):
            continue
        try:
            with open(os.path.join(venv, KEY_FILE), encoding="ascii") as file:
                if file.read().strip() == venv_key:
                    return venv
        except OSError:
            continue
    return None


def copy(source: str, destination: str) -> int:
    """``source`` venv as ``destination``: files hard-linked, links kept (those into
    ``source`` pointed into ``destination``), ``bin/`` and ``pyvenv.cfg`` written with the
    new path. Not the key: a copy cut short must not pass for a whole venv. Returns the
    number of files."""
    source = os.path.abspath(source)
    destination = os.path.abspath(destination)
    rewritten = {os.path.join(source, "bin"), source}  # where files may name the path
    count = 0
    for root, dirs, files in os.walk(source):
        into = destination + root[len(source) :]
        os.makedirs(into, exist_ok=True)
        for name in dirs + files:
            path = os.path.join(root, name)
            copy_path = os.path.join(into, name)
            if os.path.islink(path):
                link = os.readlink(path)
                if link == source or link.startswith(source + os.sep):
                    link = destination + link[len(source) :]
                os.symlink(link, copy_path)
                if name in dirs:
                    dirs.remove(name)  # a linked directory is not walked into
            elif root == source and name == KEY_FILE:
                continue  # marked by the caller once the whole copy is there
            elif name in files:
                count += 1
                if root in rewritten and _names_path(path, source):
                    _write_renamed(path, copy_path, source, destination)
                else:
                    _link(path, copy_path)
    return count


def _names_path(path: str, source: str) -> bool:
    with open(path, "rb") as file:
        return source.encode() in file.read()


def _write_renamed(path: str, copy_path: str, source: str, destination: str) -> None:
    with open(path, "rb") as file:
        content = file.read()
    with open(copy_path, "wb") as file:
        file.write(content.replace(source.encode(), destination.encode()))
    shutil.copymode(path, copy_path)


def _link(path: str, copy_path: str) -> None:
    try:
        os.link(path, copy_path)
    except OSError:  # another filesystem, or links refused: a copy does the same
        shutil.copy2(path, copy_path)
