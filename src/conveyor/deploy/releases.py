"""A release's directory: the project's tracked files, the shared paths linked in,
and the old releases pruned."""

from __future__ import annotations

import datetime
import os
import shutil
import stat
import subprocess
import tarfile
from typing import BinaryIO

from conveyor.deploy.state import DeployError, Target


def release_name(sha: str, now: datetime.datetime | None = None) -> str:
    moment = now or datetime.datetime.now(datetime.UTC)
    stamp = moment.strftime("%Y%m%dT%H%M%S") + f"{moment.microsecond // 1000:03d}Z"
    return f"{stamp}-{sha[:7] or 'nogit'}"


def project_sha(project_dir: str) -> str:
    found = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project_dir, capture_output=True, text=True
    )
    return found.stdout.strip() if found.returncode == 0 else ""


def project_files(project_dir: str) -> list[str]:
    """The files a release holds: git's tracked (and not ignored, untracked) files, so a
    working tree deploys as it is; without git, every file but .git's."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=project_dir,
        capture_output=True,
    )
    if listed.returncode == 0:
        names = [name for name in listed.stdout.decode().split("\0") if name]
        return sorted({name for name in names if os.path.lexists(os.path.join(project_dir, name))})
    files = []
    for root, dirs, names in os.walk(project_dir):
        dirs[:] = [d for d in dirs if d != ".git"]
        files += [os.path.relpath(os.path.join(root, n), project_dir) for n in names]
    return sorted(files)


def checked_files(project_dir: str, files: list[str]) -> list[str]:
    """``files`` (a list the caller made, maybe inside a sandbox), each a relative path
    that stays in the project without passing through a symlink: a link is a file of
    the release, never a way to read what it points to. Else a DeployError naming it."""
    for name in files:
        parts = name.split("/")
        if not name or name.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise DeployError(f"the file list names {name!r}: not a path inside the project")
        for depth in range(1, len(parts)):
            if os.path.islink(os.path.join(project_dir, *parts[:depth])):
                raise DeployError(f"the file list names {name!r}, inside a symlink")
    return files


def deployed_files(project_dir: str, shared: list[str], files: list[str] | None) -> list[str]:
    """What a release holds of the project: ``files`` (else git's list), without the
    shared paths (the target keeps its own)."""
    listed = project_files(project_dir) if files is None else checked_files(project_dir, files)
    skipped = [path.strip("/") for path in shared]
    return [
        name
        for name in listed
        if not any(name == path or name.startswith(path + "/") for path in skipped)
    ]


def copy_project(
    project_dir: str, destination: str, shared: list[str], files: list[str] | None = None
) -> None:
    """The project's files into ``destination`` (symlinks copied as links, never
    followed: a link in the project must not pull a file from elsewhere)."""
    for name in deployed_files(project_dir, shared, files):
        source = os.path.join(project_dir, name)
        copy = os.path.join(destination, name)
        os.makedirs(os.path.dirname(copy), exist_ok=True)
        if os.path.islink(source):
            os.symlink(os.readlink(source), copy)
        elif os.path.isfile(source):
            shutil.copy2(source, copy)


def unpack_project(stream: BinaryIO, destination: str) -> list[str]:
    """A tar of the project (``in_job/pack_release``'s, or an ssh deploy's stream)
    unpacked into ``destination``: regular files (their mode's x bits kept) and symlinks
    (made as links, whatever they point to, never followed); a name that leaves
    ``destination`` or passes through a link is refused. Returns the names unpacked."""
    received = []
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                name = member.name
                parts = name.split("/")
                if name.startswith("/") or any(part in ("", ".", "..") for part in parts):
                    raise DeployError(f"the project's archive names {name!r}")
                for depth in range(1, len(parts)):  # checked before a directory is made
                    if os.path.islink(os.path.join(destination, *parts[:depth])):
                        raise DeployError(f"the project's archive puts {name!r} inside a link")
                path = os.path.join(destination, *parts)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                if member.issym():
                    os.symlink(member.linkname, path)
                elif member.isfile():
                    source = archive.extractfile(member)
                    assert source is not None
                    mode = 0o755 if member.mode & stat.S_IXUSR else 0o644
                    with open(path, "xb") as copy:
                        shutil.copyfileobj(source, copy)
                    os.chmod(path, mode)
                    os.utime(path, (member.mtime, member.mtime))
                else:
                    continue  # directories are made as needed; nothing else is sent
                received.append(name)
    except tarfile.TarError as error:
        raise DeployError(f"the project's archive is broken: {error}") from None
    except OSError as error:
        raise DeployError(f"cannot unpack the project in {destination}: {error}") from None
    return received


def link_shared(target: Target, release_dir: str, shared: list[str]) -> None:
    """Each shared path of the release is a link to ``shared/<path>``. A path the target
    does not have yet starts empty: a directory for a name without a dot (media), else
    nothing (a file the app creates, .env, db.sqlite3): the project's own copy is never
    taken, it may be a developer's data."""
    for path in shared:
        path = path.strip().strip("/")
        if not path or ".." in path.split("/"):
            raise DeployError(f"shared path {path!r} must be a relative path inside the project")
        kept = os.path.join(target.shared_dir, path)
        if not os.path.lexists(kept):
            os.makedirs(os.path.dirname(kept), exist_ok=True)
            if "." not in os.path.basename(path):
                os.makedirs(kept)
        link = os.path.join(release_dir, path)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.lexists(link):
            if os.path.isdir(link) and not os.path.islink(link):
                shutil.rmtree(link)
            else:
                os.unlink(link)
        os.symlink(kept, link)


def prune(target: Target, keep: int, protected: set[str]) -> list[str]:
    """Remove the oldest releases until ``keep`` remain, never one in ``protected``
    (the current release and the one a rollback would go back to)."""
    names = target.release_names()
    removable = [name for name in names if name not in protected]
    removed = []
    for name in removable[: max(0, len(names) - keep)]:
        shutil.rmtree(target.release_dir(name), ignore_errors=True)
        target.forget(name)
        removed.append(name)
    return removed
