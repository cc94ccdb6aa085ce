"""The notification settings page: members see it, admins change it, viewers and
strangers are kept out; its forms save what the API would and say what is wrong."""

from __future__ import annotations

import pytest

from conveyor.server.notifications.models import Channel, ForgeStatus
from conveyor.server.repos.models import Environment, Repository
from tests.server import test_ui_support as support

cast = support.cast

pytestmark = pytest.mark.django_db

PAGE = "/repos/shop/settings/notifications/"


@pytest.fixture
def shop() -> Repository:
    repository = Repository.objects.create(name="shop", url="https://gitlab.com/acme/shop.git")
    Environment.objects.create(repository=repository, name="production")
    return repository


def test_who_may_see_and_change_the_settings(cast, shop):
    assert cast["outsider"].get(PAGE).status_code == 302  # to the login page
    assert cast["viewer"].get(PAGE).status_code == 403
    member_page = cast["member"].get(PAGE)
    assert member_page.status_code == 200
    assert 'id="channel-form"' not in member_page.content.decode()
    assert 'id="channel-form"' in cast["admin"].get(PAGE).content.decode()
    posted = cast["member"].post(
        f"{PAGE}channels",
        {"name": "team", "kind": "email", "target": "a@example.com", "events": ["run.failed"]},
    )
    assert posted.status_code == 403
    assert not Channel.objects.exists()
    # The repository page leads members there.
    assert PAGE in cast["member"].get("/repos/shop/").content.decode()
    assert PAGE not in cast["viewer"].get("/repos/shop/").content.decode()


def test_an_admin_adds_changes_and_deletes_a_channel(cast, shop):
    admin = cast["admin"]
    answer = admin.post(
        f"{PAGE}channels",
        {
            "name": "prod-hook",
            "kind": "webhook",
            "target": "https://hooks.acme.test/in",
            "environment": "production",
            "events": ["deploy.started", "incident.opened"],
            "secret": "sign-with-this",
            "enabled": "on",
        },
        follow=True,
    )
    page = answer.content.decode()
    assert "Channel prod-hook added." in page
    assert '<tr data-channel="prod-hook">' in page
    assert "environment production" in page
    assert "sign-with-this" not in page
    channel = Channel.objects.get()
    assert (channel.environment.name, channel.secret()) == ("production", "sign-with-this")
    assert channel.events == ["deploy.started", "incident.opened"]

    # Saved again without a secret: the secret stays; disabled.
    admin.post(
        f"{PAGE}channels",
        {
            "name": "prod-hook",
            "kind": "webhook",
            "target": "https://hooks.acme.test/v2",
            "environment": "production",
            "events": ["deploy.succeeded"],
        },
    )
    channel.refresh_from_db()
    assert (channel.target, channel.enabled, channel.secret()) == (
        "https://hooks.acme.test/v2",
        False,
        "sign-with-this",
    )

    refused = admin.post(
        f"{PAGE}channels",
        {"name": "chat", "kind": "slack", "target": "not a url", "events": ["run.failed"]},
        follow=True,
    ).content.decode()
    assert "Channel not saved: target: &#x27;not a url&#x27; is not an http(s) URL" in refused

    deleted = admin.post(f"{PAGE}channels/prod-hook/delete", follow=True).content.decode()
    assert "Channel prod-hook deleted." in deleted
    assert not Channel.objects.exists()


def test_an_admin_sets_the_commit_statuses_from_the_guess(cast, shop):
    admin = cast["admin"]
    page = admin.get(PAGE).content.decode()
    assert "The repository's URL suggests gitlab" in page
    assert 'value="https://gitlab.com/api/v4"' in page
    missing = admin.post(f"{PAGE}commit-status", {"enabled": "on"}, follow=True).content.decode()
    assert "Commit statuses not saved: token: a token is needed to post statuses" in missing
    admin.post(
        f"{PAGE}commit-status",
        {
            "api_url": "https://gitlab.com/api/v4",
            "project": "acme/shop",
            "token": "glpat-secret",
            "enabled": "on",
        },
    )
    setting = ForgeStatus.objects.get()
    assert (setting.forge, setting.project, setting.reveal()) == (
        "gitlab",
        "acme/shop",
        "glpat-secret",
    )
    shown = admin.get(PAGE).content.decode()
    assert "Sent to GitLab at" in shown
    assert "glpat-secret" not in shown
    admin.post(f"{PAGE}commit-status/delete")
    assert not ForgeStatus.objects.exists()
