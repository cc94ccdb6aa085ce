"""The sandbox executor: each job runs inside a bubblewrap (``bwrap``) sandbox.

One sandbox per job, as GitHub runs a job in one container: at ``prepare_job`` a
``bwrap`` builds the job's namespaces (user, PID, mount, IPC, UTS; network when it
is turned off) and keeps them open with a process that only sleeps; each step then
enters them with util-linux's ``nsenter`` (a few exec()s, no mounting) and runs.

What a step sees:

- the host's system directories read-only (``/usr``, ``/etc``, ``/opt`` and the
  ``/bin``-style links or directories), its own ``/proc``, a few devices;
- writable: the job's workspace, the job's runner files (scripts, ``GITHUB_*``
  files), a home directory of the job's own, a private ``/tmp`` (the job's, so it
  lasts from step to step as on GitHub's runners);
- read-only: the ``readonly_paths`` the caller names;
- nothing else: the server's data directory, other jobs' workspaces, users' home
  directories and ``/run`` do not exist in there. Paths keep their host names (the
  engine hands them to the step in its environment).

Processes: a step sees only its job's processes (never the server's); what one
step leaves running serves the next steps, and killing the holder when the job
ends takes every process of the namespace with it: nothing escapes.

Privileges: the step's user inside is the caller's uid, mapped to itself, without
capabilities (``umount`` of the masks is refused) and with no_new_privs. The
sandbox is built without ``--dev`` on purpose: for a devpts bwrap would map uid 0
inside and nest a second user namespace, and a step entering the outer one would
be root in there. A caller that is root must not lend its uid either: on the host,
root-owned files the sandbox can see (``/etc/shadow``) would be its own, and
abstract sockets of root daemons would trust it. Root therefore runs everything
as ``run_as`` (an unprivileged uid and gid, e.g. ``nobody``) and hands that user
the job's directories; the workspace root must be reachable by it.

Network: on by default (tests install packages); ``network=False`` gives the job
an empty network namespace of its own (loopback only, shared by its steps).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from conveyor.executors.base import StepCommand
from conveyor.executors.local import (
    DEFAULT_EXIT_DRAIN,
    DEFAULT_KILL_GRACE,
    Launch,
    LocalJobHost,
    _file_name_part,
)

# Top-level host directories a job may read; everything else is absent.
_SYSTEM_DIRECTORIES = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt")
_HOSTNAME = "conveyor"
_HOLD = "echo ready; exec sleep infinity >/dev/null"
# Devices a job may use; no devpts (see the module doc), so no terminals.
_DEVICES = [
    "--dir",
    "/dev",
    *(
        argument
        for device in ("null", "zero", "full", "random", "urandom", "tty")
        for argument in ("--dev-bind", f"/dev/{device}", f"/dev/{device}")
    ),
    "--tmpfs",
    "/dev/shm",
    "--symlink",
    "/proc/self/fd",
    "/dev/fd",
    "--symlink",
    "/proc/self/fd/0",
    "/dev/stdin",
    "--symlink",
    "/proc/self/fd/1",
    "/dev/stdout",
    "--symlink",
    "/proc/self/fd/2",
    "/dev/stderr",
]


class SandboxUnavailable(Exception):
    """No sandbox can be made here; the message says why and what to do."""


@dataclass(frozen=True)
class SandboxPolicy:
    """What a job's sandbox lets through, besides its own workspace and files."""

    network: bool = True
    # (uid, gid) that runs the sandbox; required when the caller is root.
    run_as: tuple[int, int] | None = None
    readonly_paths: tuple[str, ...] = ()
    # Where each job's private directories (tmp, home, runner files) are made.
    state_dir: str | None = None


def run_as_identity(wanted: str) -> tuple[int, int] | None:
    """The (uid, gid) jobs' sandboxes run as: the user ``wanted`` (a name or a uid) when
    this process is root, None otherwise (they then run as this process's user).

    Raises ``SandboxUnavailable`` for a user that does not exist, or root."""
    if os.geteuid() != 0:
        return None
    wanted = wanted.strip() or "nobody"
    try:
        if wanted.isdigit():
            uid = int(wanted)
            try:
                gid = pwd.getpwuid(uid).pw_gid
            except KeyError:
                gid = uid
        else:
            entry = pwd.getpwnam(wanted)
            uid, gid = entry.pw_uid, entry.pw_gid
    except KeyError:
        raise SandboxUnavailable(
            f"CONVEYOR_SANDBOX_USER={wanted!r}: no such user on this machine"
        ) from None
    if uid == 0:
        raise SandboxUnavailable("CONVEYOR_SANDBOX_USER must not be root")
    return uid, gid


def check_available(policy: SandboxPolicy, bwrap: str | None = None) -> str:
    """The ``bwrap`` to use, after a trial sandbox; raises SandboxUnavailable."""
    bwrap = bwrap or shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed: install it (Debian/Ubuntu: "
            "apt-get install bubblewrap)"
        )
    for tool in ("nsenter", "setpriv"):
        if shutil.which(tool) is None:
            raise SandboxUnavailable(f"{tool} (util-linux) is not installed")
    if os.geteuid() == 0 and policy.run_as is None:
        raise SandboxUnavailable("as root, the sandbox needs an unprivileged user to run jobs as")
    if policy.run_as is not None and policy.run_as[0] == 0:
        raise SandboxUnavailable("the sandbox cannot run jobs as root (uid 0)")
    trial = subprocess.run(
        [bwrap, "--unshare-user", "--unshare-pid", *_system_binds(), "--", "true"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        **_identity(policy),  # type: ignore[arg-type]
    )
    if trial.returncode != 0:
        detail = trial.stderr.strip() or f"exit {trial.returncode}"
        raise SandboxUnavailable(
            f"bubblewrap cannot make a sandbox here ({detail}); unprivileged user "
            "namespaces may be disabled (sysctl kernel.unprivileged_userns_clone, "
            "user.max_user_namespaces, or an AppArmor policy)"
        )
    return bwrap


def unreachable_part(path: str, uid: int, gid: int) -> str | None:
    """The first directory on the way to ``path`` that ``uid`` cannot pass, or None."""
    current = Path("/")
    for part in Path(os.path.abspath(path)).parts[1:]:
        info = current.stat()
        if info.st_uid == uid:
            allowed = info.st_mode & 0o100
        elif info.st_gid == gid:
            allowed = info.st_mode & 0o010
        else:
            allowed = info.st_mode & 0o001
        if not allowed:
            return str(current)
        current = current / part
        if not current.exists():
            return None
    return None


def _identity(policy: SandboxPolicy) -> dict[str, object]:
    if policy.run_as is None:
        return {}
    uid, gid = policy.run_as
    return {"user": uid, "group": gid, "extra_groups": []}


def _system_binds() -> list[str]:
    arguments: list[str] = []
    for name in _SYSTEM_DIRECTORIES:
        path = f"/{name}"
        if os.path.islink(path):
            arguments += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            arguments += ["--ro-bind", path, path]
    resolver = os.path.realpath("/etc/resolv.conf")
    if os.path.exists(resolver) and not resolver.startswith("/etc/"):
        # systemd-resolved keeps it under /run, which is otherwise hidden.
        arguments += ["--ro-bind", resolver, resolver]
    return arguments


class SandboxExecutor:
    """Runs every step of a job in the job's bubblewrap sandbox (see the module doc).

    ``bwrap`` is the checked binary (see ``check_available``).
    """

    name = "sandbox"

    def __init__(
        self,
        policy: SandboxPolicy,
        bwrap: str,
        *,
        kill_grace: float = DEFAULT_KILL_GRACE,
        exit_drain: float = DEFAULT_EXIT_DRAIN,
    ) -> None:
        self.policy = policy
        self.bwrap = bwrap
        self.nsenter = shutil.which("nsenter") or "nsenter"
        self.setpriv = shutil.which("setpriv") or "setpriv"
        self.kill_grace = kill_grace
        self.exit_drain = exit_drain
        self._system = _system_binds()

    @property
    def isolated_network(self) -> bool:
        """Jobs have a network of their own: the host's services are out of their reach."""
        return not self.policy.network

    def prepare_job(self, job_key: str, workspace: str) -> SandboxJobHost:
        if self.policy.state_dir is not None:
            os.makedirs(self.policy.state_dir, exist_ok=True)
        job_dir = tempfile.mkdtemp(
            prefix=f"job-{_file_name_part(job_key)}-", dir=self.policy.state_dir
        )
        try:
            return SandboxJobHost(self, job_dir, workspace)
        except BaseException:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise


class SandboxJobHost(LocalJobHost):
    """One job's sandbox: its directories, and the holder of its namespaces."""

    def __init__(self, executor: SandboxExecutor, job_dir: str, workspace: str) -> None:
        self._executor = executor
        self._policy = executor.policy
        self._job_dir = job_dir
        self._private_tmp = os.path.join(job_dir, "tmp")
        self.home = os.path.join(job_dir, "home")
        temp_dir = os.path.join(job_dir, "runner")
        for directory in (self._private_tmp, self.home, temp_dir):
            os.mkdir(directory, 0o700)
        os.chmod(self._private_tmp, 0o1777)
        super().__init__(
            workspace=workspace,
            temp_dir=temp_dir,
            kill_grace=executor.kill_grace,
            exit_drain=executor.exit_drain,
            keep_orphans_until_close=True,
        )
        run_as = self._policy.run_as
        if run_as is not None:
            for directory in (job_dir, self._private_tmp, self.home, temp_dir):
                os.chown(directory, *run_as)
            hand_over(workspace, *run_as)
        self._holder: subprocess.Popen[bytes] | None = None
        self._namespace_fds: tuple[int, ...] = ()
        self._start_holder()

    def can_use_tool(self, path: str) -> bool:
        """Whether ``path`` (followed to its real path) is in the system directories the
        job is shown read-only. Never a place the job could have written (its workspace,
        its files), nor the other read-only paths: the borrowed git objects are the
        repository's content, not the machine's tools."""
        real = os.path.realpath(path)
        roots = [os.path.realpath(f"/{name}") for name in _SYSTEM_DIRECTORIES]
        return any(
            os.path.commonpath([real, os.path.realpath(root)]) == os.path.realpath(root)
            for root in roots
        )

    def _start_holder(self) -> None:
        """The job's namespaces, built once, held by a process that only sleeps."""
        executor, policy = self._executor, self._policy
        arguments = [
            executor.bwrap,
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--hostname",
            _HOSTNAME,
            "--die-with-parent",
        ]
        if not policy.network:
            arguments.append("--unshare-net")
        arguments += executor._system
        arguments += ["--proc", "/proc", *_DEVICES]
        # /tmp first: the binds below may lie under it (a workspace in /tmp).
        arguments += ["--bind", self._private_tmp, "/tmp", "--symlink", "/tmp", "/var/tmp"]
        for path in policy.readonly_paths:
            arguments += ["--ro-bind", path, path]
        for path in (self.workspace, self.temp_dir, self.home):
            arguments += ["--bind", path, path]
        info_read, info_write = os.pipe()
        try:
            self._holder = subprocess.Popen(
                # bwrap describes the sandbox before it is finished; the command
                # says when it is (all mounted), then only sleeps.
                [*arguments, "--info-fd", str(info_write), "--", "sh", "-c", _HOLD],
                # Steps can read the holder's environment (/proc/1/environ):
                # nothing of this process's own may be in it.
                env={"PATH": "/usr/bin:/bin"},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(info_write,),
                start_new_session=True,
                **_identity(policy),  # type: ignore[arg-type]
            )
        finally:
            os.close(info_write)
        try:
            with os.fdopen(info_read, "rb") as info:
                described = _read_json(info)
            assert self._holder.stdout is not None
            if self._holder.stdout.readline() != b"ready\n":
                raise ValueError("the sandbox ended before it was ready")
            self._holder.stdout.close()
            self._namespace_fds = self._open_namespaces(described)
        except (OSError, ValueError, KeyError) as error:
            problem = self._stop_holder()
            raise RuntimeError(f"could not start the job's sandbox: {problem or error}") from None

    def _open_namespaces(self, described: dict[str, object]) -> tuple[int, ...]:
        """Descriptors of the holder's namespaces, so that a recycled pid can never
        point a step at a stranger's (the descriptors stay valid whatever happens)."""
        pid = int(described["child-pid"])  # type: ignore[call-overload]
        names = ["user", "mnt", "pid", "ipc", "uts"] + ([] if self._policy.network else ["net"])
        fds: list[int] = []
        try:
            for name in names:
                fds.append(os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC))
            with open(f"/proc/{pid}/uid_map", encoding="ascii") as uid_map:
                mapped = [line.split() for line in uid_map]
            expected = {"mnt": "mnt-namespace", "pid": "pid-namespace"}
            for name, fd in zip(names, fds, strict=True):
                key = expected.get(name)
                if key is not None and os.fstat(fd).st_ino != described.get(key):
                    raise ValueError("the sandbox ended while it was being set up")
            if any(fields and fields[0] == "0" for fields in mapped):
                raise ValueError("the sandbox maps root inside; refusing to run steps in it")
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        return tuple(fds)

    def _launch(self, command: StepCommand) -> Launch:
        run_as = self._policy.run_as
        if run_as is not None:
            # The engine (this process) made the step's files; the step must write them.
            _hand_over_entries(self.temp_dir, *run_as)
        executor = self._executor
        user, mount, pid, ipc, uts, *net = self._namespace_fds
        argv = [
            executor.setpriv,
            "--no-new-privs",
            "--",
            executor.nsenter,
            f"--user=/proc/self/fd/{user}",
            f"--mount=/proc/self/fd/{mount}",
            f"--pid=/proc/self/fd/{pid}",
            f"--ipc=/proc/self/fd/{ipc}",
            f"--uts=/proc/self/fd/{uts}",
            *(f"--net=/proc/self/fd/{fd}" for fd in net),
            "--preserve-credentials",
            f"--wdns={command.cwd}",
            "--",
            *command.argv,
        ]
        env = dict(command.env)
        env["HOME"] = self.home
        env["TMPDIR"] = "/tmp"
        return Launch(
            argv=argv,
            cwd=self._job_dir,
            env=env,
            pass_fds=self._namespace_fds,
            user=None if run_as is None else run_as[0],
            group=None if run_as is None else run_as[1],
        )

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._stop_holder()
            shutil.rmtree(self._job_dir, ignore_errors=True)

    def _stop_holder(self) -> str:
        """End the holder (and with it every process left in the job's namespace)."""
        for fd in self._namespace_fds:
            os.close(fd)
        self._namespace_fds = ()
        holder, self._holder = self._holder, None
        if holder is None:
            return ""
        try:
            os.killpg(holder.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
        errors = holder.stderr.read() if holder.stderr is not None else b""
        if holder.stderr is not None:
            holder.stderr.close()
        return errors.decode(errors="replace").strip()


def _read_json(stream: object) -> dict[str, object]:
    """The first JSON document bwrap writes to its info descriptor."""
    buffer = b""
    read = stream.read1  # type: ignore[attr-defined]
    while True:
        chunk = read(4096)
        if not chunk:
            raise ValueError("bwrap ended before its sandbox was ready")
        buffer += chunk
        try:
            value = json.loads(buffer)
        except ValueError:
            continue
        if not isinstance(value, dict):
            raise ValueError("bwrap wrote no sandbox information")
        return value


def hand_over(path: str, uid: int, gid: int) -> None:
    """Give ``path`` and all below it to ``uid``:``gid`` unless it is theirs already.

    Walked by directory descriptors (``os.fwalk``), never following a link: a job of
    the same run may already be changing the tree, and a directory it swaps for a link
    to the data directory must not make root hand that over. Links are changed
    themselves; hard-linked files that others share (git objects a clone borrowed)
    keep their owner, since changing one would change every copy.
    """
    info = os.lstat(path)
    if info.st_uid == uid and info.st_gid == gid:
        return
    os.lchown(path, uid, gid)
    for _, directories, files, directory_fd in os.fwalk(path, follow_symlinks=False):
        for name in (*directories, *files):
            try:
                entry = os.stat(name, dir_fd=directory_fd, follow_symlinks=False)
                if entry.st_nlink > 1 and not stat.S_ISDIR(entry.st_mode):
                    continue
                os.chown(name, uid, gid, dir_fd=directory_fd, follow_symlinks=False)
            except FileNotFoundError:
                pass  # removed meanwhile


def _hand_over_entries(directory: str, uid: int, gid: int) -> None:
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.stat(follow_symlinks=False).st_uid != uid:
                os.lchown(entry.path, uid, gid)
