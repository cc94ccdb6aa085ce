"""Restoring an actions/cache entry next to ``tar -x`` of the same files.

    .venv/bin/python bench/cache_restore.py [--mb 200] [--rounds 5] [--sandbox] [--dir D]

Makes a tree of about ``--mb`` megabytes shaped like a Python virtual environment
(thousands of small source files, some compiled extensions and wheels that do not
compress), saves it once with ``actions/cache/save`` through the real engine, then
alternates, round by round, two ways of getting it back into an empty directory:

- ``tar -x``: GNU tar unpacking an uncompressed tar of the tree (the floor: no
  lookup, no copy, no decompression);
- conveyor: a workflow whose one step is ``actions/cache/restore`` (lookup in the
  store, copy of the archive into runner.temp, ``tar -x`` with zstd inside the job),
  timed from the step's start to its end as the engine reports it.

Medians and their ratio are printed (the target is at most 1.5x). ``--sandbox``
restores through the bubblewrap executor, as the server does; ``--dir /dev/shm``
keeps every file in memory, leaving the disk's noise out. The compression
table compares zstd and gzip on the same tar (why conveyor picks zstd).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conveyor.engine.events import Event, LogLines, StepFinished
from conveyor.engine.runner import RunOptions, run_workflow
from conveyor.executors.local import LocalExecutor
from conveyor.workflow.load import parse_workflow

SAVE = """
on: push
jobs:
  save:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/cache/save@v4
        with: {path: venv, key: bench}
"""
RESTORE = SAVE.replace("save", "restore")


def make_tree(root: Path, megabytes: int, seed: int = 7) -> tuple[int, int]:
    """A venv-like tree: ~70% of the bytes small text files, ~30% incompressible
    binaries; returns (files, bytes)."""
    rng = random.Random(seed)
    words = [
        "def",
        "return",
        "self",
        "import",
        "class",
        "value",
        "None",
        "for",
        "in",
        "if",
        "raise",
        "yield",
        "lambda",
        "kwargs",
    ]
    # Source text compresses about 4:1 with zstd: lines drawn from a pool, not one repeated.
    pool = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 14))) for _ in range(4000)]
    pool = [f"{'    ' * rng.randint(0, 3)}{line} {rng.randint(0, 99999)}\n" for line in pool]
    target = megabytes * 1024 * 1024
    files = total = 0
    package = 0
    while total < target:
        package += 1
        directory = root / "venv" / "lib" / "site-packages" / f"package_{package:04d}"
        (directory / "sub").mkdir(parents=True)
        for number in range(rng.randint(20, 60)):
            size = int(rng.lognormvariate(8.5, 1.0))  # median ~5 KB, some far larger
            text = "".join(rng.choices(pool, k=size // 40 + 1))[:size]
            place = directory / ("sub" if number % 3 else "") / f"module_{number}.py"
            place.write_text(text)
            files += 1
            total += size
        if package % 4 == 0:
            size = rng.randint(200_000, 2_000_000)
            (directory / "_speedups.cpython-311-x86_64-linux-gnu.so").write_bytes(
                rng.randbytes(size)
            )
            files += 1
            total += size
    return files, total


def run_steps(text: str, workspace: Path, store: Path, executor: object) -> float:
    """Run ``text``; the duration of its one step as the engine measured it."""
    durations: list[float] = []
    problems: list[str] = []

    class Sink:
        def emit(self, event: Event) -> None:
            if isinstance(event, StepFinished) and event.step == 0:
                if event.status.value != "success":
                    problems.append(str(event.reason))
                durations.append(event.duration)
            if isinstance(event, LogLines) and "Failed" in event.text:
                problems.append(event.text)

    options = RunOptions(workspace=str(workspace), store_dir=str(store), cache_scope="bench/cache")
    run_workflow(parse_workflow(text, "bench.yml"), options, executor, Sink())
    if problems or not durations:
        raise SystemExit(f"the cache step did not succeed: {problems}")
    return durations[0]


def settled() -> None:
    """Write back what earlier rounds left dirty, so that no round pays for another."""
    os.sync()
    time.sleep(0.5)


def tar_extract(archive: Path, into: Path) -> float:
    settled()
    started = time.perf_counter()
    subprocess.run(["tar", "-x", "-f", str(archive), "-C", str(into)], check=True)
    return time.perf_counter() - started


def timed(argv: list[str], stdout: Path | None = None) -> float:
    started = time.perf_counter()
    with open(stdout or os.devnull, "wb") as out:
        subprocess.run(argv, check=True, stdout=out)
    return time.perf_counter() - started


def compression_table(plain: Path) -> list[str]:
    rows = ["| | archive | compress | decompress |", "|---|---|---|---|"]
    size = plain.stat().st_size
    rows.append(f"| none | {size / 1048576:.0f} MiB | | |")
    for name, compress, decompress in (
        ("zstd -T0 (level 3)", ["zstd", "-q", "-T0", "-c"], ["zstd", "-q", "-d", "-c"]),
        ("gzip (level 6)", ["gzip", "-c"], ["gzip", "-d", "-c"]),
    ):
        if shutil.which(compress[0]) is None:
            continue
        packed = plain.with_suffix("." + compress[0])
        made = timed([*compress, str(plain)], packed)
        unpacked = timed([*decompress, str(packed)])
        rows.append(
            f"| {name} | {packed.stat().st_size / 1048576:.0f} MiB | {made:.2f} s "
            f"| {unpacked:.2f} s |"
        )
        packed.unlink()
    return rows


def executor_for(place: Path, sandbox: bool) -> object:
    if not sandbox:
        return LocalExecutor()
    from conveyor.executors.sandbox import SandboxExecutor, SandboxPolicy, check_available

    run_as = nobody() if os.geteuid() == 0 else None
    policy = SandboxPolicy(run_as=run_as, state_dir=str(place / "jobs"))
    return SandboxExecutor(policy, check_available(policy))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sandbox", action="store_true", help="restore in the job sandbox")
    parser.add_argument(
        "--dir", default=None, help="where the files go (default: the system's temp directory)"
    )
    args = parser.parse_args()
    place = Path(tempfile.mkdtemp(prefix="conveyor-bench-cache-", dir=args.dir))
    place.chmod(0o711)
    try:
        source = place / "source"
        source.mkdir()
        files, total = make_tree(source, args.mb)
        plain = place / "plain.tar"
        subprocess.run(["tar", "-c", "-f", str(plain), "-C", str(source), "venv"], check=True)
        executor = executor_for(place, args.sandbox)
        store = place / "store"
        saved = run_steps(SAVE, source, store, executor)
        tar_times, restore_times = [], []
        for number in range(args.rounds):
            into = place / f"tar-{number}"
            into.mkdir()
            tar_times.append(tar_extract(plain, into))
            shutil.rmtree(into)
            workspace = place / f"workspace-{number}"
            workspace.mkdir()
            if args.sandbox and os.geteuid() == 0:
                os.chown(workspace, *nobody())
            settled()
            restore_times.append(run_steps(RESTORE, workspace, store, executor))
            restored = sum(1 for _ in (workspace / "venv").rglob("*") if _.is_file())
            if restored != files:
                raise SystemExit(f"restored {restored} files of {files}")
            shutil.rmtree(workspace)
        tar_median, restore_median = statistics.median(tar_times), statistics.median(restore_times)
        entry = next((store / "cache").glob("*/*.tar*"))
        print(f"tree: {files} files, {total / 1048576:.0f} MiB; rounds: {args.rounds}; in {place}")
        print(f"executor: {'sandbox' if args.sandbox else 'local'}; save took {saved:.2f} s; ")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"archive in the store: {entry.stat().st_size / 1048576:.0f} MiB ({entry.name})")
        print()
        print("| | median | all rounds |")
        print("|---|---|---|")
        print(f"| `tar -x` (uncompressed tar) | {tar_median:.2f} s | {_all(tar_times)} |")
        print(f"| actions/cache/restore | {restore_median:.2f} s | {_all(restore_times)} |")
        ratio = restore_median / tar_median
        verdict = "met" if ratio <= 1.5 else "MISSED"
        print(f"\nratio: {ratio:.2f}x (target at most 1.5x: {verdict})\n")
        print("\n".join(compression_table(plain)))
    finally:
        shutil.rmtree(place, ignore_errors=True)
    return 0


def nobody() -> tuple[int, int]:
    import pwd

    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


def _all(times: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in times)


if __name__ == "__main__":
    sys.exit(main())
