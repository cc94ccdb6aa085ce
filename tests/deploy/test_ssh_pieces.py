"""The pieces of an ssh:// deploy that need no server: the target's address, the file
list a caller gives, the tar stream that carries the project (links as links), and the
agent: this package alone, run by a python that has no Conveyor installed."""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from conveyor.deploy import agent_bundle, releases
from conveyor.deploy.agent import receive_framed
from conveyor.deploy.remote import Framed, _project_sender, forwarded_env
from conveyor.deploy.ssh_session import connect
from conveyor.deploy.ssh_target import SshAddress, SshOptions
from conveyor.deploy.state import DeployError

DEPLOY_PACKAGE = Path(agent_bundle.__file__).parent


def test_an_ssh_address_is_read_whole() -> None:
    assert SshAddress.parse("ssh://deploy@example.com:2222/srv/shop") == SshAddress(
        "deploy", "example.com", 2222, "/srv/shop"
    )
    assert SshAddress.parse("ssh://example.com/srv").where == "example.com:22"


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("ssh://example.com", "needs an absolute directory"),
        ("ssh://example.com/", "needs an absolute directory"),
        ("ssh://u:secret@example.com/srv", "no password in the target"),
        ("ssh://example.com:0x10/srv", "the port is not a number"),
        ("ssh:///srv", "an ssh target is ssh://[user@]host[:port]/path"),
    ],
)
def test_a_bad_ssh_address_says_what_is_wrong(target: str, said: str) -> None:
    with pytest.raises(DeployError, match=said.replace("[", r"\[").replace("]", r"\]")):
        SshAddress.parse(target)


def test_an_ssh_key_that_is_no_key_is_refused_before_connecting() -> None:
    address = SshAddress("deploy", "127.0.0.1", 9, "/srv")
    with pytest.raises(DeployError, match="ssh-key is not a private key"):
        connect(address, SshOptions(key="not a key\n"))


def test_a_given_file_list_stays_in_the_project(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "views.py").write_text("")
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "upload.png").write_text("")
    os.symlink("/etc", tmp_path / "outside")
    given = ["app/views.py", "media/upload.png", "outside"]
    assert releases.deployed_files(str(tmp_path), ["media"], given) == ["app/views.py", "outside"]
    for name, said in [
        ("../etc/passwd", "not a path inside the project"),
        ("/etc/passwd", "not a path inside the project"),
        ("app//views.py", "not a path inside the project"),
        ("outside/passwd", "inside a symlink"),
    ]:
        with pytest.raises(DeployError, match=said):
            releases.deployed_files(str(tmp_path), [], [name])


def test_the_project_travels_as_a_tar_with_links_as_links(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "bin").mkdir(parents=True)
    (project / "manage.py").write_text("print('hi')\n")
    (project / "bin" / "run").write_text("#!/bin/sh\n")
    (project / "bin" / "run").chmod(0o755)
    os.symlink("/etc/hostname", project / "hostname")
    stream = io.BytesIO()
    _project_sender(str(project), ["bin/run", "hostname", "manage.py", "gone.py"])(stream)
    stream.seek(0)
    received = tmp_path / "received"
    received.mkdir()
    assert releases.unpack_project(stream, str(received)) == ["bin/run", "hostname", "manage.py"]
    assert (received / "manage.py").read_text() == "print('hi')\n"
    assert os.access(received / "bin" / "run", os.X_OK)
    assert not os.access(received / "manage.py", os.X_OK)
    assert os.readlink(received / "hostname") == "/etc/hostname"  # a link, not the file


def _tar(*members: tuple[str, str]) -> io.BytesIO:
    """A tar of (name, link target or "" for a small file)."""
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as archive:
        for name, link in members:
            info = tarfile.TarInfo(name)
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
                archive.addfile(info)
            else:
                info.size = 2
                archive.addfile(info, io.BytesIO(b"x\n"))
    stream.seek(0)
    return stream


@pytest.mark.parametrize(
    ("members", "said"),
    [
        ([("../escape", "")], "names '../escape'"),
        ([("/etc/escape", "")], "names '/etc/escape'"),
        ([("out", "/tmp"), ("out/escape", "")], "puts 'out/escape' inside a link"),
        ([("out", "/tmp"), ("out/made/escape", "")], "puts 'out/made/escape' inside a link"),
    ],
)
def test_an_archive_cannot_write_outside_the_staging_directory(
    tmp_path: Path, members: list[tuple[str, str]], said: str
) -> None:
    with pytest.raises(DeployError, match=said):
        releases.unpack_project(_tar(*members), str(tmp_path))
    assert not (tmp_path.parent / "escape").exists()
    assert not Path("/tmp/made").exists()


def test_only_what_the_workflow_sets_goes_to_the_target() -> None:
    env = {"PATH": "/here", "HOME": "/root", "GITHUB_SHA": "abc", "RUNNER_OS": "Linux"}
    assert forwarded_env({**env, "SECRET_KEY": "s", "DEBUG": "0"}) == {
        "SECRET_KEY": "s",
        "DEBUG": "0",
    }


def test_the_deploy_package_imports_nothing_else_of_conveyor() -> None:
    for module in DEPLOY_PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                inside = name == "conveyor.deploy" or name.startswith("conveyor.deploy.")
                assert inside or name.split(".")[0] != "conveyor", (
                    f"{module.name} imports {name}: the agent ships conveyor.deploy alone"
                )


def test_the_agent_runs_without_conveyor_installed(tmp_path: Path) -> None:
    digest, data = agent_bundle.bundle()
    assert (digest, data) == agent_bundle.bundle() and len(digest) == 16
    agent = tmp_path / f"{digest}.pyz"
    agent.write_bytes(data)
    assert "conveyor/deploy/agent.py" in zipfile.ZipFile(agent).namelist()
    request = json.dumps({"target": str(tmp_path / "srv")}) + "\n"
    # -I -S: no site-packages, no PYTHONPATH: only the zipapp can provide conveyor.
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(agent), "status"],
        input=request,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == [{"result": []}]


def test_a_stream_cut_short_is_told_from_a_whole_one(tmp_path: Path) -> None:
    sent = io.BytesIO()
    framed = Framed(sent)
    framed.write(b"first chunk ")
    framed.write(b"")
    framed.write(b"second chunk")
    framed.end()
    receive_framed(io.BytesIO(sent.getvalue()), str(tmp_path / "whole"))
    assert (tmp_path / "whole").read_bytes() == b"first chunk second chunk"
    whole = sent.getvalue()
    for cut in (len(whole) - 2, len(whole) - 5, 3, 0):  # before the end mark, mid-chunk...
        with pytest.raises(DeployError, match="the connection was lost while the project"):
            receive_framed(io.BytesIO(whole[:cut]), str(tmp_path / f"cut-{cut}"))
