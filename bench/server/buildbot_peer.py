"""Buildbot 4 for the benchmark: a master and local workers on loopback, in bench/.peers.

The master gets one builder per project: a Git checkout of the pushed commit (as
conveyor checks out each run's commit) and then the same shell command conveyor's
step runs. Pushes reach it through its HTTP change hook (`/change_hook/base`, the
"base" dialect), posted by a post-receive hook in the bare repository, the way
Buildbot's manual documents for a git server it does not poll. Requests are not
collapsed, so N changes make N builds, as N pushes make N runs in conveyor.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services import (
    BenchError,
    Project,
    Service,
    answers,
    free_port,
    http,
    start_service,
    wait_until,
)

BENCH_DIR = Path(__file__).resolve().parents[1]
VENV_BIN = BENCH_DIR / ".peers" / "buildbot-venv" / "bin"
SETUP_SCRIPT = Path(__file__).resolve().parent / "setup_buildbot.sh"
WORKER_PASSWORD = "bench"
HOOK_MARKER = "# buildbot post-receive hook (bench)"


def is_installed() -> bool:
    return all((VENV_BIN / name).exists() for name in ("buildbot", "buildbot-worker")) and any(
        (VENV_BIN.parent / "lib").glob("python*/site-packages/buildbot_www"))


def version() -> str:
    completed = subprocess.run([str(VENV_BIN / "buildbot"), "--version"], capture_output=True,
                               text=True, timeout=60, check=False)
    return " ".join(completed.stdout.split()[:3]) or "unknown"


def master_header(www_port: int, pb_port: int, workers: list[str],
                  max_builds: int | None = None) -> str:
    """The start of a master.cfg: workers (each running at most `max_builds` builds at
    once; None: no limit, Buildbot's default), loopback ports, the HTTP change hook,
    SQLite, requests never collapsed. Builders and schedulers are the caller's."""
    return textwrap.dedent(f"""\
        from buildbot.plugins import schedulers, steps, util, worker

        c = BuildmasterConfig = {{}}
        c["workers"] = [worker.Worker(name, {WORKER_PASSWORD!r}, max_builds={max_builds!r})
                        for name in {workers!r}]
        c["protocols"] = {{"pb": {{"port": "tcp:{pb_port}:interface=127.0.0.1"}}}}
        c["change_source"] = []
        c["collapseRequests"] = False
        c["buildbotNetUsageData"] = None
        c["title"] = "bench"
        c["buildbotURL"] = "http://127.0.0.1:{www_port}/"
        c["www"] = {{"port": "tcp:{www_port}:interface=127.0.0.1",
                    "change_hook_dialects": {{"base": True}}, "plugins": {{}}}}
        c["db"] = {{"db_url": "sqlite:///state.sqlite"}}
        """)


def _master_config(www_port: int, pb_port: int, workers: list[str],
                   builders: dict[str, tuple[Path, str]]) -> str:
    """master.cfg text; `builders` maps a project name to (bare repository, command)."""
    return master_header(www_port, pb_port, workers) + textwrap.dedent(f"""\
        c["schedulers"] = []
        c["builders"] = []
        for project, (repository, command) in {_repr_builders(builders)}.items():
            c["schedulers"].append(schedulers.AnyBranchScheduler(
                name=project, treeStableTimer=None, builderNames=[project],
                change_filter=util.ChangeFilter(project=project)))
            factory = util.BuildFactory([
                steps.Git(repourl=repository, mode="incremental"),
                steps.ShellCommand(name="step", command=["sh", "-c", command]),
            ])
            c["builders"].append(util.BuilderConfig(
                name=project, workernames={workers!r}, factory=factory))
        """)


def _repr_builders(builders: dict[str, tuple[Path, str]]) -> str:
    return repr({name: (str(repository), command)
                 for name, (repository, command) in builders.items()})


def _hook_text(python: str, hook_url: str, project: str) -> str:
    """A post-receive hook posting each pushed ref to the change hook, standard library only."""
    return textwrap.dedent(f"""\
        #!{python} -S
        {HOOK_MARKER}: each pushed branch becomes a change for project {project!r}.
        import os
        import sys
        import urllib.parse
        import urllib.request

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
        repository = os.path.abspath(os.environ.get("GIT_DIR", "."))
        for line in sys.stdin:
            old, new, ref = line.split()
            if not ref.startswith("refs/heads/") or set(new) == {{"0"}}:
                continue
            fields = {{"revision": new, "branch": ref[len("refs/heads/"):],
                      "repository": repository, "project": {project!r},
                      "author": "bench <bench@example.com>", "comments": "push"}}
            body = urllib.parse.urlencode(fields).encode()
            opener.open({hook_url!r}, data=body, timeout=60).read()
        """)


@dataclass
class BuildbotMaster:
    master: Service
    workers: list[Service]
    url: str
    master_dir: Path

    name = "Buildbot"

    @classmethod
    def start(cls, root: Path, worker_count: int, builders: dict[str, tuple[Path, str]],
              timeout_seconds: float = 120.0,
              config: Callable[[int, int, list[str]], str] | None = None) -> BuildbotMaster:
        """`config(www_port, pb_port, worker_names)`: another master.cfg than one builder
        per project of `builders` (which is then not used)."""
        if not is_installed():
            raise BenchError(f"Buildbot is not installed: run {SETUP_SCRIPT}")
        master_dir = root / "buildbot-master"
        www_port, pb_port = free_port(), free_port()
        _run([str(VENV_BIN / "buildbot"), "create-master", "--quiet", str(master_dir)], root)
        names = [f"worker{index}" for index in range(1, worker_count + 1)]
        (master_dir / "master.cfg").write_text(
            config(www_port, pb_port, names) if config is not None
            else _master_config(www_port, pb_port, names, builders))
        master = start_service("buildbot master",
                               [str(VENV_BIN / "buildbot"), "start", "--nodaemon", str(master_dir)],
                               root, _clean_env(), root / "buildbot-master.log")
        master.log = master_dir / "twistd.log"  # where twistd writes, even with --nodaemon
        url = f"http://127.0.0.1:{www_port}"
        started: list[Service] = []
        peer = cls(master, started, url, master_dir)
        try:
            def up() -> bool:
                master.check_alive()
                return answers(f"{url}/api/v2/builders")

            wait_until(up, timeout_seconds, "the Buildbot master's web server", 0.1)
            for name in names:
                worker_dir = root / f"buildbot-{name}"
                _run([str(VENV_BIN / "buildbot-worker"), "create-worker", "--quiet",
                      str(worker_dir), f"127.0.0.1:{pb_port}", name, WORKER_PASSWORD], root)
                started.append(start_service(
                    f"buildbot {name}",
                    [str(VENV_BIN / "buildbot-worker"), "start", "--nodaemon", str(worker_dir)],
                    root, _clean_env(), root / f"buildbot-{name}.log"))
            wait_until(lambda: peer._connected_workers() >= worker_count, timeout_seconds,
                       "the Buildbot workers to connect", 0.1)
        except BaseException:
            peer.stop()
            raise
        return peer

    @property
    def pids(self) -> list[int]:
        return [self.master.pid, *(worker.pid for worker in self.workers)]

    def _connected_workers(self) -> int:
        for service in (self.master, *self.workers):
            service.check_alive()
        rows = self._query("select count(*) from connected_workers")
        return rows[0][0] if rows else 0

    def install_hook(self, project: Project) -> None:
        hook = project.bare / "hooks" / "post-receive"
        hook.write_text(_hook_text(sys.executable, f"{self.url}/change_hook/base", project.name))
        hook.chmod(0o755)

    def trigger_push(self, project: Project, branch: str, sha: str) -> None:
        """One change through the HTTP change hook, as the post-receive hook posts it."""
        body = urllib.parse.urlencode({
            "revision": sha, "branch": branch, "repository": str(project.bare),
            "project": project.name, "author": "bench <bench@example.com>", "comments": "push",
        }).encode()
        status, answer = http("POST", f"{self.url}/change_hook/base", body,
                              {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            raise BenchError(f"Buildbot change hook for {branch}: HTTP {status}: {answer[:300]!r}")

    def _query(self, sql: str, *parameters: object) -> list[tuple]:
        uri = f"file:{self.master_dir / 'state.sqlite'}?mode=ro"
        try:
            with sqlite3.connect(uri, uri=True, timeout=10) as database:
                return database.execute(sql, parameters).fetchall()
        except sqlite3.OperationalError:
            return []  # the master has not created its tables yet

    def finished_runs(self, branch_prefix: str) -> tuple[int, int]:
        """(finished, succeeded) build requests for changes on branches starting with it."""
        rows = self._query(
            "select br.results, count(*) from buildrequests br "
            "join buildsets bs on br.buildsetid = bs.id "
            "join buildset_sourcestamps bss on bss.buildsetid = bs.id "
            "join sourcestamps ss on ss.id = bss.sourcestampid "
            "where br.complete = 1 and ss.branch like ? group by br.results",
            f"{branch_prefix}%")
        counts = dict(rows)
        # Buildbot's result code 0 is SUCCESS.
        return sum(counts.values()), counts.get(0, 0)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.master.stop()


def _clean_env() -> dict[str, str]:
    import os

    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(command: list[str], cwd: Path) -> None:
    completed = subprocess.run(command, cwd=cwd, env=_clean_env(), capture_output=True,
                               text=True, timeout=120, check=False)
    if completed.returncode != 0:
        raise BenchError(f"{' '.join(command)}: exit {completed.returncode}: "
                         f"{(completed.stderr or completed.stdout)[-1500:]}")
