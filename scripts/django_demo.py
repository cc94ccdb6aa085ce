"""Make a real Django project that holds the seed's pipeline as `.conveyor.yml`.

    python scripts/django_demo.py DIR [--failing-test]

`django-admin startproject` and `startapp` make the project; this adds an app with
a view, a static file and real tests, sets STATIC_ROOT, writes the seed's YAML
verbatim, and commits it all to a new git repository. The demo and the tests use it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

SEED_PIPELINE = """\
steps:
  - name: Build
    run: python manage.py collectstatic --noinput
  - name: Test
    run: python manage.py test
  - name: Deploy
    run: echo "Deploying to server..."
"""

VIEWS = """\
from django.http import HttpResponse


def index(request):
    return HttpResponse("<link rel=stylesheet href=/static/catalog/style.css><h1>Shop</h1>")
"""

TESTS = """\
from django.test import TestCase


class IndexTests(TestCase):
    def test_index_shows_the_shop(self):
        response = self.client.get("/")
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "<h1>Shop</h1>")

    def test_unknown_page_is_404(self):
        self.assertEqual(self.client.get("/nowhere/").status_code, 404)
"""

FAILING_TEST = """

class BrokenTests(TestCase):
    def test_price_is_positive(self):
        self.assertGreater(-1, 0, "a price must be positive")
"""


def run(*argv: str, cwd: Path) -> None:
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def make_project(target: Path, failing_test: bool = False) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    run(sys.executable, "-m", "django", "startproject", "shop", ".", cwd=target)
    run(sys.executable, "manage.py", "startapp", "catalog", cwd=target)

    settings = target / "shop" / "settings.py"
    text = settings.read_text()
    text = text.replace("INSTALLED_APPS = [", "INSTALLED_APPS = [\n    'catalog',", 1)
    text += "\nSTATIC_ROOT = BASE_DIR / 'staticfiles'\n"
    settings.write_text(text)

    urls = target / "shop" / "urls.py"
    urls.write_text(
        urls.read_text()
        .replace(
            "from django.urls import path",
            "from django.urls import path\n\nfrom catalog import views",
        )
        .replace("urlpatterns = [", "urlpatterns = [\n    path('', views.index),")
    )
    app = target / "catalog"
    (app / "views.py").write_text(VIEWS)
    (app / "tests.py").write_text(TESTS + (FAILING_TEST if failing_test else ""))
    static = app / "static" / "catalog"
    static.mkdir(parents=True)
    (static / "style.css").write_text("h1 { color: #0a7; }\n")

    (target / ".conveyor.yml").write_text(SEED_PIPELINE)
    (target / ".gitignore").write_text("staticfiles/\ndb.sqlite3\n__pycache__/\n")
    run("git", "init", "-q", "-b", "main", cwd=target)
    run("git", "add", ".", cwd=target)
    run(
        "git",
        "-c",
        "user.name=Demo",
        "-c",
        "user.email=demo@example.com",
        "commit",
        "-q",
        "-m",
        "A Django shop with the seed pipeline",
        cwd=target,
    )
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--failing-test", action="store_true", help="add a test that fails")
    args = parser.parse_args()
    make_project(args.directory, args.failing_test)
    print(args.directory)


if __name__ == "__main__":
    main()
