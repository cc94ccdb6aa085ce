"""The workers page in a real browser (Debian's chromium through Playwright) against
pytest-django's live server on 127.0.0.1: the rows, and htmx bringing a change of
state onto the open page without a reload."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone

from conveyor.server.accounts.models import Profile
from conveyor.server.dispatch.models import DispatchStatus, JobDispatch, Worker
from conveyor.server.repos.models import Repository
from conveyor.server.runs.models import Run, Status

CHROMIUM = "/usr/bin/chromium"

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
]


def in_thread(work: Callable[[], Any]) -> Any:
    """Run database work off this thread: Playwright's sync API keeps an event loop
    running here, where Django refuses synchronous queries."""

    def run() -> Any:
        try:
            return work()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


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


def logged_in_page(browser: Any, base_url: str) -> Any:
    """A page whose session cookie is a viewer's, made the way Django makes one."""

    def viewer_session() -> str:
        user = User.objects.create_user("vera")
        Profile.objects.create(user=user, role="viewer")
        client = Client()
        client.force_login(user)
        return client.cookies[django_settings.SESSION_COOKIE_NAME].value

    session = in_thread(viewer_session)
    context = browser.new_context()
    context.add_cookies(
        [{"name": django_settings.SESSION_COOKIE_NAME, "value": session, "url": base_url}]
    )
    return context.new_page()


def make_rows() -> None:
    """A run whose job runs on alpha; beta idle; both heard from just now."""
    now = timezone.now()
    shop = Repository.objects.create(name="shop", url="/nonexistent/shop.git")
    run = Run.objects.create(
        repository=shop,
        number=3,
        workflow_path=".github/workflows/ci.yml",
        workflow_name="CI",
        event="push",
        ref="refs/heads/main",
        sha="3" * 40,
        status=Status.RUNNING,
    )
    alpha = Worker.objects.create(
        name="alpha@build-1", labels=["linux", "x64", "self-hosted"], system="Linux",
        machine="x86_64", concurrency=2, version="0.1.0", last_seen_at=now,
    )  # fmt: skip
    Worker.objects.create(
        name="beta@build-2", labels=["linux", "gpu"], system="Linux", machine="x86_64",
        concurrency=1, last_seen_at=now,
    )  # fmt: skip
    JobDispatch.objects.create(
        run=run, job_key="test (3.12)", status=DispatchStatus.RUNNING, worker=alpha,
        worker_name=alpha.name, token_hash="0" * 64, claimed_at=now, heartbeat_at=now,
    )  # fmt: skip


def beta_silent_gamma_starts() -> None:
    Worker.objects.filter(name="beta@build-2").update(
        last_seen_at=timezone.now() - timedelta(minutes=5)
    )
    Worker.objects.create(
        name="gamma@build-3", labels=["linux", "arm64"], system="Linux", machine="aarch64",
        last_seen_at=timezone.now(),
    )  # fmt: skip


def test_the_page_lists_the_workers_and_follows_their_state(
    live_server: Any, browser: Any, settings: Any
) -> None:
    settings.CONVEYOR_WORKER_LOST_SECONDS = 30
    settings.CONVEYOR_BROKER_URL = "redis://127.0.0.1:6379/0"
    in_thread(make_rows)

    page = logged_in_page(browser, live_server.url)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/")
    page.click("nav.topnav >> text=Workers")
    page.wait_for_url(f"{live_server.url}/workers/")

    alpha_row = page.locator('tr[data-worker="alpha@build-1"]')
    assert alpha_row.get_attribute("data-state") == "online"
    assert alpha_row.locator(".worker-labels .chip").all_inner_texts() == [
        "linux",
        "x64",
        "self-hosted",
    ]
    assert alpha_row.locator(".worker-load").inner_text() == "1 / 2"
    link = alpha_row.locator(".worker-running a")
    assert link.inner_text() == "shop #3" and link.get_attribute("href") == "/repos/shop/runs/3/"
    assert "test (3.12)" in alpha_row.locator(".worker-running").inner_text()

    # beta falls silent and a third worker starts: the open page shows both, unreloaded.
    page.evaluate("window.notReloaded = true")
    in_thread(beta_silent_gamma_starts)
    page.wait_for_selector('tr[data-worker="beta@build-2"][data-state="lost"]', timeout=30_000)
    page.wait_for_selector('tr[data-worker="gamma@build-3"][data-state="online"]', timeout=30_000)
    assert page.evaluate("window.notReloaded") is True
    assert "5" in page.locator('tr[data-worker="beta@build-2"] .worker-seen').inner_text()

    # The job ends: alpha goes idle.
    in_thread(
        lambda: JobDispatch.objects.update(
            status=DispatchStatus.FINISHED, finished_at=timezone.now()
        )
    )
    page.wait_for_function(
        """() => document.querySelector('tr[data-worker="alpha@build-1"] .worker-running')
                 .textContent.trim() === 'idle'""",
        timeout=30_000,
    )
    assert errors == []
