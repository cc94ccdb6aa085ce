"""Runs inside the job: gather the files ``path:`` names into one tar.gz for upload-artifact.

Usage: python3 -c SOURCE SPEC_JSON. SPEC: patterns (the lines of ``path:``), cwd,
include_hidden, level (gzip 0-9), output (the archive to write). Writes
``files=<count>`` and ``root=<directory>`` to $GITHUB_OUTPUT.

As @actions/glob: one pattern a line, ``!`` excludes, ``#`` comments, ``*`` ``?``
``[...]`` within a name, ``**`` any depth; a matched directory brings every file
under it. Paths inside the archive are relative to the least common ancestor of the
search paths that found files (a pattern's part before its first wildcard). A link
is followed, as GitHub does: the job reads only what it may read.
"""

import fnmatch
import json
import os
import sys
import tarfile

GLOB_CHARACTERS = "*?["


def has_glob(segment):
    return any(c in segment for c in GLOB_CHARACTERS)


def absolute(pattern, cwd):
    pattern = os.path.expanduser(pattern)
    if not os.path.isabs(pattern):
        pattern = os.path.join(cwd, pattern)
    keep_slash = pattern.endswith("/")
    pattern = os.path.normpath(pattern)
    return pattern + ("/" if keep_slash and pattern != "/" else "")


def split(path):
    return [part for part in path.split("/") if part]


def match_segments(pattern, parts):
    """Whether the path ``parts`` matches the pattern segments (``**`` any depth)."""
    if not pattern:
        return not parts
    head = pattern[0]
    if head == "**":
        return any(match_segments(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    if not parts:
        return False
    return fnmatch.fnmatchcase(parts[0], head) and match_segments(pattern[1:], parts[1:])


def walk_files(top, seen):
    """Every file under ``top`` (links followed, each real directory once)."""
    for directory, dirs, files in os.walk(top, followlinks=True):
        real = os.path.realpath(directory)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        for name in sorted(files):
            yield os.path.join(directory, name)


def hidden(relative):
    return any(part.startswith(".") for part in split(relative))


def search(pattern):
    """(search root, files) for one include pattern."""
    parts = split(pattern)
    literal = []
    for part in parts:
        if has_glob(part):
            break
        literal.append(part)
    root = "/" + "/".join(literal)
    if len(literal) == len(parts):
        if os.path.isdir(root):
            return root, [(f, root) for f in walk_files(root, set())]
        if os.path.isfile(root):
            parent = os.path.dirname(root)
            return parent, [(root, parent)]
        return root, []
    if not os.path.isdir(root):
        return root, []
    rest = parts[len(literal) :]
    found = []
    seen = set()
    for directory, dirs, files in os.walk(root, followlinks=True):
        dirs.sort()
        relative = split(os.path.relpath(directory, root)) if directory != root else []
        for name in list(dirs):
            candidate = [*relative, name]
            if match_segments(rest, candidate):
                dirs.remove(name)  # all of it, found below
                top = os.path.join(directory, name)
                found += [(f, root) for f in walk_files(top, seen)]
        for name in sorted(files):
            if match_segments(rest, [*relative, name]):
                found.append((os.path.join(directory, name), root))
    return root, found


def excluded(path, excludes):
    parts = split(path)
    for pattern in excludes:
        for end in range(1, len(parts) + 1):
            if match_segments(pattern, parts[:end]):
                return True
    return False


def common_ancestor(paths):
    if len(paths) == 1:
        return paths[0]
    return os.path.commonpath(paths)


def main():
    spec = json.loads(sys.argv[1])
    includes, excludes = [], []
    for line in spec["patterns"]:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!"):
            excludes.append(split(absolute(line[1:].strip(), spec["cwd"])))
        else:
            includes.append(absolute(line, spec["cwd"]))
    chosen = {}
    roots = set()
    hidden_skipped = 0
    for pattern in includes:
        root, found = search(pattern)
        for path, search_root in found:
            if path in chosen or excluded(path, excludes):
                continue
            if not spec["include_hidden"] and hidden(os.path.relpath(path, search_root)):
                hidden_skipped += 1
                continue
            if not os.path.isfile(path):
                print(f"::warning::skipped {path}: not a readable file (a broken link?)")
                continue
            chosen[path] = True
            roots.add(search_root)
    if hidden_skipped:
        note = "include-hidden-files: true uploads them"
        print(f"{hidden_skipped} hidden file(s) left out ({note})")
    output_file = os.environ.get("GITHUB_OUTPUT")
    if not chosen:
        with open(output_file, "a") as out:
            out.write("files=0\n")
        return
    root = common_ancestor(sorted(roots))
    with tarfile.open(
        spec["output"], "w:gz", compresslevel=spec["level"], dereference=True
    ) as archive:
        for path in sorted(chosen):
            archive.add(path, arcname=os.path.relpath(path, root), recursive=False)
    print(f"{len(chosen)} file(s) from {root}")
    with open(output_file, "a") as out:
        first = os.path.relpath(sorted(chosen)[0], root)
        out.write(f"files={len(chosen)}\nroot={root}\nfirst={first}\n")


main()
