"""Deploying to an ``ssh://user@host:port/path`` target (issue 12): the shop deployed
through a real sshd on 127.0.0.1, by ``conveyor run`` (the key a secret) and by
``conveyor deploy``; an unhealthy release that never serves; status, rollback and stop
over SSH. The target is on this machine, so the test can look at its directory too.

Real parts: OpenSSH's sshd, paramiko, the deploy agent run by the target's python3,
pip, gunicorn, SQLite migrations, HTTP through the deploy's proxy on ``bind``."""

from __future__ import annotations

import fcntl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.deploy.deployer import deploy
from conveyor.deploy.ssh_target import SshOptions
from conveyor.deploy.state import Target
from tests.cli import deploy_projects as shop
from tests.cli.deploy_projects import free_port, served
from tests.helpers import conveyor_env, run_conveyor
from tests.sshd import Sshd

pytestmark = pytest.mark.slow


def ssh_workflow(sshd: Sshd, target: Path, bind: str) -> str:
    pin = "".join(f"        {line}\n" for line in sshd.known_hosts_line().splitlines())
    extra = f"      ssh-key: ${{{{ secrets.DEPLOY_SSH_KEY }}}}\n      ssh-known-hosts: |\n{pin}"
    return shop.workflow(sshd.target(target), bind, extra)  # type: ignore[arg-type]


class Remote:
    """The shop, its ssh:// target (a directory of this machine) and the CLI's options."""

    def __init__(self, sshd: Sshd, root: Path) -> None:
        self.sshd = sshd
        self.root = root
        self.path = root / "srv" / "shop"
        self.target = sshd.target(self.path)
        self.bind = f"127.0.0.1:{free_port()}"
        self.project = shop.make_shop(root / "shop", self.path, self.bind)
        (self.project / ".conveyor.yml").write_text(ssh_workflow(sshd, self.path, self.bind))
        shop.commit(self.project, "deploy over ssh")
        self.known_hosts = root / "known_hosts"
        self.known_hosts.write_text(sshd.known_hosts_line())
        self.releases = Target(str(self.path))

    def ssh_options(self) -> list[str]:
        return ["--ssh-key", str(self.sshd.client_key), "--known-hosts", str(self.known_hosts)]

    def run(self, *args: str):
        env = conveyor_env(DEPLOY_SSH_KEY=self.sshd.client_key.read_text())
        return run_conveyor(
            "run", "--secret", "DEPLOY_SSH_KEY", *args, cwd=self.project, env=env, timeout=300
        )

    def command(self, *args: str):
        return run_conveyor(*args, "--target", self.target, *self.ssh_options(), cwd=self.root)

    def deploy_argv(self) -> list[str]:
        return [
            *("deploy", "--target", self.target, *self.ssh_options()),
            *("--project-dir", str(self.project), "--bind", self.bind),
            *("--health-path", "/healthz", "--shared", "db.sqlite3", "--watch-seconds", "3"),
        ]

    def deploy(self):
        return run_conveyor(*self.deploy_argv(), cwd=self.root, timeout=300)

    def start_deploy(self) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "conveyor", *self.deploy_argv()],
            cwd=self.root,
            env=conveyor_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
        )


@pytest.fixture(scope="module")
def remote(sshd: Sshd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    deployed = Remote(sshd, tmp_path_factory.mktemp("ssh-deploy"))
    yield deployed
    deployed.command("deploy", "stop")


def deployment_states(result) -> list[str]:
    return [event["state"] for event in result.events() if event["type"] == "deployment"]


def test_deploy_switch_refuse_status_rollback_and_stop_over_ssh(remote: Remote) -> None:
    # v1 by conveyor run, the key a secret: deployed on the target, served on bind.
    v1 = remote.run("--json")
    assert v1.returncode == 0, v1.stdout + v1.stderr
    assert deployment_states(v1) == ["deploying", "health-checking", "live"]
    live = [event for event in v1.events() if event.get("state") == "live"]
    # The Host the release's ALLOWED_HOSTS accepts, read on the target: a watcher's probe.
    assert [event["health_host"] for event in live] == ["shop.example"]
    log = "\n".join(v1.log_lines(2))
    assert "uploaded the deploy agent" in log and "migrate --plan" in log
    assert "BEGIN OPENSSH PRIVATE KEY" not in v1.stdout
    pipeline = next(event for event in v1.events() if event["type"] == "pipeline")
    assert pipeline["pipeline_status"] == "Deployed"
    # The SSH session is closed: the proxy and gunicorn outlived it.
    assert served(remote.bind) == "shop v1"
    first = remote.releases.current()
    assert first is not None
    release = remote.path / "releases" / first
    assert (release / ".venv" / "bin" / "gunicorn").exists()
    assert (release / "staticfiles" / "admin").is_dir()  # collectstatic ran there
    assert (release / "db.sqlite3").resolve() == remote.path / "shared" / "db.sqlite3"
    assert not list((remote.path / ".conveyor" / "staging").iterdir())

    # v2 by conveyor deploy over ssh: switched to; the agent is not sent again.
    shop.set_version(remote.project, "v2")
    shop.commit(remote.project, "v2")
    v2 = remote.deploy()
    assert v2.returncode == 0, v2.stdout + v2.stderr
    assert "uploaded the deploy agent" not in v2.stdout
    assert f"is live on {remote.bind}" in v2.stdout
    assert served(remote.bind) == "shop v2"
    second = remote.releases.current()
    assert second != first and remote.releases.load(first).pid == 0

    # v3: /healthz answers 500: started beside v2 on the target, never switched to.
    shop.set_version(remote.project, "v3", health="broken")
    shop.commit(remote.project, "v3")
    v3 = remote.run("--json")
    assert v3.returncode == 1, v3.stdout + v3.stderr
    assert deployment_states(v3) == ["deploying", "health-checking", "failed"]
    assert "unhealthy, never switched to" in "\n".join(v3.log_lines(2))
    assert remote.releases.current() == second
    assert served(remote.bind) == "shop v2"

    # v3b, from the tar a sandboxed job packs (the server's way), by the API: healthy
    # when checked, unhealthy right after the switch: rolled back there.
    shop.set_version(remote.project, "v3b", health="breaks-after-2")
    shop.commit(remote.project, "v3b")
    archive, sha = shop.pack(remote.project, remote.root, ["db.sqlite3"])
    recorded = shop.Recorded()
    key, pin = remote.sshd.client_key.read_text(), remote.sshd.known_hosts_line()
    settings = shop.archive_settings(
        remote.target,
        remote.bind,
        (archive, sha),
        watch_seconds=3,
        ssh=SshOptions(key=key, known_hosts=pin),
    )
    v3b = deploy(settings, recorded.reporter, {})
    assert v3b.state == "rolled-back", "\n".join(recorded.lines)
    assert "unhealthy after the switch, rolled back" in str(v3b.reason)
    assert recorded.states == ["deploying", "health-checking", "live", "rolled-back"]
    assert v3b.release.endswith(sha[:7])
    assert remote.releases.current() == second
    assert served(remote.bind) == "shop v2"

    # v4: the deploying side goes away mid-deploy (killed, its connection dropped):
    # the deploy goes on on the target and ends live.
    shop.set_version(remote.project, "v4")
    shop.commit(remote.project, "v4")
    deploying = remote.start_deploy()
    assert deploying.stdout is not None
    for line in deploying.stdout:
        if line.endswith(": health-checking\n"):
            break
    deploying.kill()
    deploying.wait()
    deploying.stdout.close()
    with open(remote.path / ".conveyor" / "lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the agent holds it until the deploy ends
    assert served(remote.bind) == "shop v4"
    fourth = remote.releases.current()
    assert fourth not in (first, second)
    assert remote.releases.load(fourth).state == "live"
    assert '"live"' in (remote.path / ".conveyor" / "agent.log").read_text()

    # status over ssh: the current release, its server and health.
    status = remote.command("deploy", "status")
    assert status.returncode == 0, status.stderr
    current = next(line for line in status.stdout.splitlines() if line.startswith("*"))
    assert fourth in current and "live" in current and "healthy" in current
    assert f"current: {fourth}" in status.stdout

    # rollback over ssh: v2 serves again; --to: v1.
    back = remote.command("rollback")
    assert back.returncode == 0, back.stdout + back.stderr
    assert remote.releases.current() == second
    assert served(remote.bind) == "shop v2"
    further = remote.command("rollback", "--to", first)
    assert further.returncode == 0, further.stdout + further.stderr
    assert served(remote.bind) == "shop v1"

    # stop over ssh: nothing serves on bind any more.
    stopped = remote.command("deploy", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped the proxy on {remote.bind}" in stopped.stdout
    with pytest.raises(OSError):
        served(remote.bind)
    assert all(remote.releases.load(n).pid == 0 for n in remote.releases.release_names())
