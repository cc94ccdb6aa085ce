"""Runs inside the job: pack the Django project a deploy ships into one tar.

Usage: python3 -c SOURCE SPEC_JSON. SPEC: project (the directory), shared (paths the
target keeps itself, left out), output (the tar to write). Writes ``sha=<HEAD>`` and
``files=<count>`` to $GITHUB_OUTPUT.

The files are git's tracked and not ignored untracked ones (a working tree deploys as
it is); without git, every file but .git's. A link is packed as a link, never
followed, so the release holds what the project holds. git runs here, in the job,
because a repository's own config may name programs to run.
"""

import json
import os
import subprocess
import sys
import tarfile


def listed(project):
    found = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=project,
        capture_output=True,
    )
    if found.returncode == 0:
        names = set(found.stdout.decode("utf-8", "surrogateescape").split("\0"))
        return sorted(n for n in names if n and os.path.lexists(os.path.join(project, n)))
    names = []
    for root, dirs, files in os.walk(project):
        dirs[:] = [d for d in dirs if d != ".git"]
        names += [os.path.relpath(os.path.join(root, f), project) for f in files]
    return sorted(names)


def head(project):
    found = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True
    )
    return found.stdout.strip() if found.returncode == 0 else ""


def main():
    spec = json.loads(sys.argv[1])
    project = spec["project"]
    if not os.path.isdir(project):
        print(f"the project directory {project} does not exist", file=sys.stderr)
        return 1
    shared = [path.strip().strip("/") for path in spec["shared"] if path.strip()]
    count = 0
    with tarfile.open(spec["output"], "w", format=tarfile.PAX_FORMAT) as tar:
        for name in listed(project):
            if any(name == path or name.startswith(path + "/") for path in shared):
                continue
            path = os.path.join(project, name)
            if os.path.islink(path) or os.path.isfile(path):
                tar.add(path, arcname=name, recursive=False)
                count += 1
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(f"sha={head(project)}\nfiles={count}\n")
    return 0


sys.exit(main())
