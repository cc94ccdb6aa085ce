"""The UI in a real browser: Debian's chromium driven by Playwright against a real
``conveyor server`` subprocess, a real bare repository and real ``git push``."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import terminate
from tests.server.conftest import (
    ROOT,
    GitProject,
    ServerProcess,
    git,
    server_environment,
    start_server,
)

CHROMIUM = "/usr/bin/chromium"
ADMIN_PASSWORD = "test-password-123"  # what conftest.server_environment gives the server
BADGE_COLOURS = {"running": "#bf8700", "success": "#1a7f37"}

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
]


@dataclass
class Site:
    server: ServerProcess
    project: GitProject
    gate: Path

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A server with repository ``shop`` added by ``conveyor repo add`` (post-receive hook)."""
    bare, work = tmp_path / "shop.git", tmp_path / "shop"
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    git("init", "-q", "-b", "main", str(work), cwd=tmp_path)
    git("remote", "add", "origin", str(bare), cwd=work)
    data = tmp_path / "data"
    data.mkdir()
    server = start_server(data)
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "conveyor",
                "repo",
                "--data",
                str(data),
                "add",
                "shop",
                str(bare),
            ],
            env=server_environment(data, CONVEYOR_URL=server.url),
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        # In the first run's checkout: the only place its sandboxed steps see.
        assert server.workspaces is not None
        gate = server.workspaces / "1" / "shop" / "gate"
        yield Site(server, GitProject(bare=bare, work=work), gate)
    finally:
        terminate(server.process, grace_seconds=15)


@pytest.fixture
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


def log_in(page: Any, url: str, next_path: str = "/") -> None:
    page.goto(f"{url}/login/?next={next_path}")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{url}{next_path}")


def badge_colour(page: Any, url: str) -> str:
    """The colour the browser draws the status half of the badge in."""
    page.goto(url)
    return page.locator("rect[data-status]").get_attribute("fill")


SLOW_WORKFLOW = """\
name: Slow
on: push
jobs:
  pipeline:
    runs-on: ubuntu-latest
    steps:
      - name: Build
        run: |
          echo "::group::Set up"
          echo "inside the group"
          echo "::endgroup::"
          echo "Building..."
      - name: Test
        run: |
          i=0
          while [ ! -e {gate} ]; do i=$((i+1)); echo "tick $i"; sleep 0.2; done
          echo "gate open"
      - name: Deploy
        run: |
          echo "Deploying to server..."
          echo "### Deployed to *production*" >> "$GITHUB_STEP_SUMMARY"
"""


def test_a_running_run_shows_lines_live_fills_the_table_and_turns_the_badge(site, browser):
    site.project.commit(
        {".github/workflows/slow.yml": SLOW_WORKFLOW.format(gate=site.gate)}, "Slow pipeline"
    )
    site.project.push()  # the post-receive hook tells the server: run #1 starts
    context = browser.new_context()
    page = context.new_page()
    badge_page = context.new_page()
    badge = f"{site.url}/badge/shop.svg?branch=main"
    log_in(page, site.url)
    page.goto(f"{site.url}/repos/shop/runs/1/")
    page.wait_for_selector("#run[data-live=open]")

    # Lines arrive while the step runs: a tick appears, then a later one, with no reload.
    test_step = page.locator("details.step[data-number='2']")
    test_step.locator(".lt", has_text=re.compile(r"^tick 2$")).wait_for()
    lines = "document.querySelectorAll(\"details.step[data-number='2'] .line\").length"
    shown = page.evaluate(lines)
    page.wait_for_function(f"{lines} >= {shown + 4}")
    table = page.locator("#exec-table tbody tr")
    assert table.nth(0).locator("td").nth(3).inner_text().startswith("Succeeded")
    assert table.nth(1).locator("td").nth(3).inner_text() == "Running"
    assert table.nth(2).locator("td").nth(3).inner_text() == "Waiting"
    assert badge_colour(badge_page, badge) == BADGE_COLOURS["running"]
    # The run page's own badge shows the same.
    assert page.locator("#run-badge").evaluate("img => img.complete && img.naturalWidth > 0")

    site.gate.touch()
    test_step.locator(".line", has_text="gate open").wait_for()
    page.wait_for_selector("#run[data-status=success]")
    page.wait_for_selector("#run[data-live=ended]")
    results = [row.locator("td").nth(3).inner_text() for row in table.all()]
    assert [result.split(" ")[0] for result in results[:3]] == ["Succeeded"] * 3
    assert table.nth(3).locator("td").nth(4).inner_text() == "No further steps"
    assert page.locator("#run-pipeline-status").inner_text() == "Deployed"
    # Every stage passed; its "Deploy" only echoed, so Production says nothing deployed.
    assert page.locator("#flow li[data-status=success]").count() == 6
    production = page.locator("#flow li", has_text="Production")
    assert production.get_attribute("data-status") == "skipped"
    assert production.locator(".flow-detail").inner_text() == "not deployed"
    assert badge_colour(badge_page, badge) == BADGE_COLOURS["success"]
    # The step summary written at the end shows up without a reload, as Markdown.
    assert page.locator("#summaries .markdown h3 em").inner_text() == "production"
    # Every line the step printed is on the page once, numbered from 1.
    numbers = [int(n) for n in test_step.locator(".ln").all_inner_texts()]
    assert numbers == list(range(1, len(numbers) + 1))

    # The group is collapsed; a line permalink opens what holds it and marks the line.
    build_step = page.locator("details.step[data-number='1']")
    group = build_step.locator("details.log-group")
    assert group.locator("summary").text_content().strip().endswith("Set up")
    assert group.get_attribute("open") is None
    line_id = group.locator(".line", has_text="inside the group").get_attribute("id")
    assert re.fullmatch(r"j\d+-s1-l\d+", line_id)
    page.goto(f"{site.url}/repos/shop/runs/1/#{line_id}")
    page.wait_for_selector(f"#{line_id}.line-target")
    assert page.locator(f"#{line_id}").is_visible()
    # Search finds lines across steps and opens them.
    page.fill("#log-search", "tick 3")
    page.wait_for_function("document.querySelectorAll('.line-hit').length > 0")
    assert page.locator("#log-search-count").inner_text().endswith(("match", "matches"))
    assert all("tick 3" in text for text in page.locator(".line-hit .lt").all_inner_texts())
    # The raw log is the step's whole text.
    href = build_step.locator("a.step-download").get_attribute("href")
    raw = page.request.get(f"{site.url}{href}")
    assert raw.text().splitlines()[1:3] == ["inside the group", "##[endgroup]"]
    context.close()


MANUAL_WORKFLOW = """\
name: Manual
on:
  workflow_dispatch:
    inputs:
      greeting:
        description: Greeting
        required: true
        default: hello
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - name: Greet
        run: |
          echo "greeting is ${{ inputs.greeting }}"
          sleep 60
"""


def test_log_in_run_a_workflow_with_an_input_and_cancel_it(site, browser):
    site.project.commit({".github/workflows/manual.yml": MANUAL_WORKFLOW}, "Manual workflow")
    site.project.push()  # no run (workflow_dispatch only), but the server mirrors the commit
    page = browser.new_page()
    log_in(page, site.url, "/repos/shop/")
    # The push is mirrored by the hook in the background; the form appears once it is.
    for _ in range(50):
        if page.locator("#run-workflow").count():
            break
        page.wait_for_timeout(200)
        page.reload()
    page.click("#run-workflow summary")
    form = page.locator("form.dispatch-form[data-workflow='.github/workflows/manual.yml']")
    form.locator("input[name='input.greeting']").fill("bonjour from the browser")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/repos/shop/runs/\d+/$"))
    page.locator(".line", has_text="greeting is bonjour from the browser").wait_for()
    assert page.locator("#run[data-status=running]").count() == 1
    page.locator("#job-graph .node[data-job-id=greet][data-status=running]").wait_for()

    page.click("#cancel-form button")
    page.wait_for_selector("#run[data-status=cancelled]", timeout=15_000)
    page.wait_for_selector("#run[data-live=ended]")
    assert page.locator("#run-status .status").inner_text().endswith("cancelled")
    assert page.locator("#cancel-form").is_hidden()
    assert page.locator(".rerun-form").first.is_visible()
    page.close()


def test_pages_fit_a_phone(site, browser):
    """Nothing on the dashboard or repository page is wider than a phone's screen."""
    site.project.commit({"README": "hi\n"}, "First")
    site.project.push()
    context = browser.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    log_in(page, site.url)
    for path in ("/", "/repos/shop/"):
        page.goto(f"{site.url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
    context.close()
