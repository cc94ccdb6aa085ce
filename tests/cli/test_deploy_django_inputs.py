"""Each input of conveyor/deploy-django@v1 beyond the issue's three, seen to matter, and
bad input said clearly (the three deploys here are real: venv, gunicorn, HTTP)."""

from __future__ import annotations

import http.client
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.deploy.state import Target
from tests.cli import deploy_projects as shop
from tests.cli.test_deploy_django import applied_migrations, free_port
from tests.helpers import git, run_conveyor

pytestmark = pytest.mark.slow

SYSTEM_PYTHON = "/usr/bin/python3.11"

PROD_SETTINGS = """from mysite.settings import *  # noqa: F403

ALLOWED_HOSTS = ["prod.example"]
"""

TAGGED_WSGI = """from mysite.wsgi import application as django_application


def application(environ, start_response):
    def tagged(status, headers, exc_info=None):
        return start_response(status, headers + [("X-Served-By", "tagged")], exc_info)

    return django_application(environ, tagged)
"""


OUTPUTS = " ".join(
    "${{ steps.deploy.outputs." + name + " }}" for name in ("release", "state", "url")
)


def workflow(target: Path, bind: str, inputs: str) -> str:
    return f"""steps:
  - name: Deploy
    id: deploy
    uses: conveyor/deploy-django@v1
    with:
      target: {target}
      bind: {bind}
      health-path: /healthz
      project-dir: site
      settings-module: mysite.settings_prod
      wsgi: mysite.tagged:application
      shared: |
        uploads
        db.sqlite3
{inputs}  - name: Say
    run: echo "deployed {OUTPUTS}"
"""


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    """A repository whose Django project is in site/, with production settings and a
    WSGI callable of its own."""
    root = tmp_path / "repo"
    target = tmp_path / "srv"
    bind = f"127.0.0.1:{free_port()}"
    site = shop.make_shop(root / "site", target, bind)
    shutil.rmtree(site / ".git")
    (site / ".conveyor.yml").unlink()
    (site / "mysite" / "settings_prod.py").write_text(PROD_SETTINGS)
    (site / "mysite" / "tagged.py").write_text(TAGGED_WSGI)
    git("init", "-q", "-b", "main", cwd=root)
    yield root, target, bind
    stopped = run_conveyor("deploy", "stop", "--target", str(target), cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr


def deploy(root: Path, target: Path, bind: str, inputs: str, message: str):
    (root / ".conveyor.yml").write_text(workflow(target, bind, inputs))
    shop.commit(root, message)
    return run_conveyor("run", cwd=root, timeout=300)


def request(target: Path, path: str, host: str) -> http.client.HTTPResponse:
    release = Target(str(target)).load(Target(str(target)).current() or "")
    connection = http.client.HTTPConnection("127.0.0.1", release.port, timeout=10)
    connection.request("GET", path, headers={"Host": host})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


@pytest.mark.skipif(not Path(SYSTEM_PYTHON).exists(), reason=f"needs {SYSTEM_PYTHON}")
def test_every_input_is_used(repository: tuple[Path, Path, str]) -> None:
    root, target, bind = repository
    releases = Target(str(target))
    site = root / "site"

    # healthy when first checked, unhealthy after: with no watch it stays live.
    shop.set_version(site, "v1", health="breaks-after-1")
    first = deploy(
        root,
        target,
        bind,
        f"      python: {SYSTEM_PYTHON}\n      watch-seconds: 0\n      keep-releases: 2\n",
        "v1",
    )
    assert first.returncode == 0, first.stdout + first.stderr
    name = releases.current()
    assert name is not None
    assert f"deployed {name} live http://{bind}" in first.stdout  # the step's outputs
    release = target / "releases" / name
    # project-dir: site's files are the release's; the repository's top is not.
    assert (release / "manage.py").is_file() and not (release / "site").exists()
    # python: the release's venv was made from it.
    assert "home = /usr/bin\n" in (release / ".venv" / "pyvenv.cfg").read_text()
    # shared: uploads is linked, media (a default, not listed here) is not.
    assert (release / "uploads").resolve() == target / "shared" / "uploads"
    assert not (release / "media").exists()
    # settings-module: the production settings accept prod.example (the health check's
    # Host came from them) and only it; wsgi: the tagged callable serves.
    response = request(target, "/", "prod.example")
    assert response.status == 200
    assert response.getheader("X-Served-By") == "tagged"
    assert request(target, "/", "shop.example").status == 400

    # health-timeout: an unhealthy release is given up on after 1s, not 30.
    shop.set_version(site, "v2", health="broken")
    second = deploy(root, target, bind, "      health-timeout: 1\n      keep-releases: 2\n", "v2")
    assert second.returncode == 1
    assert "still after 1s" in second.stdout
    assert releases.current() == name

    # allow-irreversible-migrations: the RunPython without reverse is applied.
    # keep-releases: 2 of the 3 releases stay; the failed one, oldest not needed, goes.
    shop.set_version(site, "v3")
    shop.add_irreversible_migration(site, "fill")
    third = deploy(
        root,
        target,
        bind,
        "      allow-irreversible-migrations: true\n      keep-releases: 2\n",
        "v3",
    )
    assert third.returncode == 0, third.stdout + third.stderr
    assert "0002_fill" in applied_migrations(target)
    assert releases.release_names() == [name, releases.current()]


@pytest.mark.parametrize(
    ("inputs", "said"),
    [
        (
            "      target: ssh://deploy@127.0.0.1:1/srv/shop\n      bind: 127.0.0.1:1\n"
            "      ssh-key: not a key\n",
            "ssh-key is not a private key",
        ),
        ("      target: /tmp/x\n", "input 'bind' is required"),
        (
            "      target: /tmp/x\n      bind: 127.0.0.1:1\n      keep-releases: 0\n",
            "keep-releases",
        ),
        (
            "      target: /tmp/x\n      bind: 127.0.0.1:1\n      watch-seconds: soon\n",
            "input 'watch-seconds' must be a number of seconds",
        ),
    ],
)
def test_bad_input_is_said_where_it_is(tmp_path: Path, inputs: str, said: str) -> None:
    (tmp_path / ".conveyor.yml").write_text(
        "steps:\n  - name: Deploy\n    uses: conveyor/deploy-django@v1\n    with:\n" + inputs
    )
    git("init", "-q", "-b", "main", cwd=tmp_path)
    result = run_conveyor("run", cwd=tmp_path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert said in output
    assert ".conveyor.yml:" in output  # where in the workflow
    assert "Traceback" not in output


def test_a_project_without_gunicorn_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "srv"
    project = shop.make_shop(tmp_path / "shop", target, f"127.0.0.1:{free_port()}")
    (project / "requirements.txt").write_text("Django\n")
    shop.commit(project, "no gunicorn")
    result = run_conveyor("run", cwd=project, timeout=300)
    assert result.returncode == 1
    assert "requirements.txt does not name gunicorn" in result.stdout
    assert Target(str(target)).current() is None


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="scripts/test installs bubblewrap")
def test_a_sandboxed_job_is_refused(tmp_path: Path) -> None:
    """The deploy runs the project's code outside the sandbox: a sandboxed job (as on the
    server) must not reach it."""
    target = tmp_path / "srv"
    project = shop.make_shop(tmp_path / "shop", target, f"127.0.0.1:{free_port()}")
    workflow = (project / ".conveyor.yml").read_text()
    (project / ".conveyor.yml").write_text(
        "steps:\n  - name: Deploy\n" + workflow.split("  - name: Deploy\n")[1]
    )
    shop.commit(project, "deploy only")
    result = run_conveyor("run", "--sandbox", "--clean", cwd=project, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "a sandboxed job deploys to ssh:// targets only" in result.stdout
    assert not target.exists()


def test_conveyor_deploy_deploys_from_the_command_line(tmp_path: Path) -> None:
    target = tmp_path / "srv"
    project = shop.make_shop(tmp_path / "shop", target, f"127.0.0.1:{free_port()}")
    bind = f"127.0.0.1:{free_port()}"
    argv = ["deploy", "--target", str(target), "--bind", bind, "--health-path"]
    options = ["/healthz", "--shared", "db.sqlite3", "--watch-seconds", "0"]
    try:
        result = run_conveyor(*argv, *options, cwd=project, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        name = Target(str(target)).current()
        assert f"{name} is live on {bind}" in result.stdout
        assert request(target, "/", "shop.example").status == 200
        assert (target / "releases" / str(name) / "db.sqlite3").is_symlink()
    finally:
        run_conveyor("deploy", "stop", "--target", str(target), cwd=tmp_path)


def test_a_project_without_database_static_root_or_wsgi_setting_deploys(tmp_path: Path) -> None:
    """As django-htmx's example app is written: DATABASES empty, no STATIC_ROOT, no
    WSGI_APPLICATION (runserver needs none of them). The deploy says what it skipped,
    serves Django's own WSGI application and gets through no migration gate."""
    target = tmp_path / "srv"
    project = shop.make_shop(tmp_path / "shop", target, f"127.0.0.1:{free_port()}")
    settings = project / "mysite" / "settings.py"
    text = settings.read_text().replace('STATIC_ROOT = BASE_DIR / "staticfiles"\n', "")
    text = text.replace("WSGI_APPLICATION = 'mysite.wsgi.application'\n", "")
    text = text.replace('WSGI_APPLICATION = "mysite.wsgi.application"\n', "")
    settings.write_text(text + "\nDATABASES = {}\n")
    assert "WSGI_APPLICATION" not in settings.read_text()
    (project / "mysite" / "wsgi.py").unlink()
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "as runserver needs it", cwd=project)
    bind = f"127.0.0.1:{free_port()}"
    argv = ["deploy", "--target", str(target), "--bind", bind, "--health-path", "/healthz"]
    try:
        result = run_conveyor(*argv, "--watch-seconds", "0", cwd=project, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "collectstatic skipped: the settings set no STATIC_ROOT" in result.stdout
        assert "no database in the settings (DATABASES is empty): no migrations" in result.stdout
        assert "Traceback" not in result.stdout + result.stderr
        release = Target(str(target)).load(Target(str(target)).current() or "")
        assert release.wsgi == "django.core.wsgi:get_wsgi_application()"
        assert request(target, "/healthz", "shop.example").status == 200
    finally:
        run_conveyor("deploy", "stop", "--target", str(target), cwd=tmp_path)
