"""Runs inside the job: unpack downloaded artifacts (download-artifact).

Usage: python3 -c SOURCE SPEC_JSON. SPEC: items, each {name, archive, destination}.
An archive was made by a job of this run; it is unpacked as data only: no member
may leave its destination, and links, devices and odd modes are refused, as
tarfile's "data" filter does (done here by hand where that filter is missing).
"""

import json
import os
import sys
import tarfile


def safe_members(archive, destination):
    base = os.path.realpath(destination)
    for member in archive.getmembers():
        target = os.path.realpath(os.path.join(base, member.name))
        if os.path.isabs(member.name) or os.path.commonpath([base, target]) != base:
            raise SystemExit(f"refused {member.name}: it would land outside {base}")
        if not (member.isfile() or member.isdir()):
            raise SystemExit(f"refused {member.name}: not a file or a directory")
        member.mode = (member.mode & 0o755) | (0o644 if member.isfile() else 0o755)
        yield member


def main():
    spec = json.loads(sys.argv[1])
    for item in spec["items"]:
        destination = item["destination"]
        os.makedirs(destination, exist_ok=True)
        with tarfile.open(item["archive"], "r:gz") as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(destination, filter="data")
                count = sum(1 for m in archive.getmembers() if m.isfile())
            else:
                members = list(safe_members(archive, destination))
                archive.extractall(destination, members=members)
                count = sum(1 for m in members if m.isfile())
        os.unlink(item["archive"])
        print(f"Artifact {item['name']}: {count} file(s) into {destination}")


main()
