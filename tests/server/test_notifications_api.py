"""The notification channels, deliveries and commit status setting through the API:
who may see and change them, what bad input says, and that no secret comes back."""

from __future__ import annotations

import pytest

from conveyor.server.notifications.models import Channel, ForgeStatus, Outbound
from conveyor.server.repos.models import Environment, Repository
from tests.server.test_api_helpers import Api, cast

pytestmark = pytest.mark.django_db

SLACK_URL = "https://hooks.slack.example/services/T000/B000/the-url-is-the-credential"


@pytest.fixture
def people() -> dict:
    return cast()


@pytest.fixture
def shop() -> Repository:
    repository = Repository.objects.create(name="shop", url="https://github.com/acme/shop.git")
    Environment.objects.create(repository=repository, name="production")
    return repository


def test_an_admin_sets_channels_members_see_them_without_credentials(people, shop):
    admin, member = Api(people["admin"]), Api(people["member"])
    made = admin.put(
        "repositories/shop/notifications/channels/chat",
        {"kind": "slack", "target": SLACK_URL, "events": ["run.fixed", "run.failed"]},
    )
    assert made.status_code == 201, made.json()
    assert made.json()["events"] == ["run.failed", "run.fixed"]
    hook = admin.put(
        "repositories/shop/notifications/channels/prod-hook",
        {
            "kind": "webhook",
            "target": "https://hooks.acme.test/conveyor",
            "events": ["deploy.succeeded", "incident.opened"],
            "environment": "production",
            "secret": "signing-secret",
        },
    )
    assert hook.status_code == 201, hook.json()

    listed = member.get("repositories/shop/notifications/channels")
    assert listed.status_code == 200
    by_name = {row["name"]: row for row in listed.json()}
    assert by_name["chat"]["target"] == "https://hooks.slack.example/…"
    assert by_name["prod-hook"]["environment"] == "production"
    assert by_name["prod-hook"]["has_secret"] is True
    assert "signing-secret" not in listed.content.decode()
    assert "the-url-is-the-credential" not in listed.content.decode()
    assert Channel.objects.get(name="prod-hook").secret() == "signing-secret"

    # Replacing keeps the secret unless told.
    again = admin.put(
        "repositories/shop/notifications/channels/prod-hook",
        {
            "kind": "webhook",
            "target": "https://hooks.acme.test/v2",
            "events": ["deploy.started"],
            "environment": "production",
        },
    )
    assert again.status_code == 200
    assert Channel.objects.get(name="prod-hook").secret() == "signing-secret"

    assert (
        member.put(
            "repositories/shop/notifications/channels/x",
            {"kind": "email", "target": "a@example.com", "events": ["run.failed"]},
        ).status_code
        == 403
    )
    assert Api(people["viewer"]).get("repositories/shop/notifications/channels").status_code == 403
    assert member.delete("repositories/shop/notifications/channels/chat").status_code == 403
    assert admin.delete("repositories/shop/notifications/channels/chat").status_code == 204
    gone = admin.delete("repositories/shop/notifications/channels/chat")
    assert gone.status_code == 404
    assert gone.json()["detail"] == "repository 'shop' has no notification channel 'chat'"


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        (
            {"kind": "sms", "target": "x", "events": ["run.failed"]},
            "kind",
            "kind: 'sms' is not one of email, webhook, slack, discord",
        ),
        (
            {"kind": "email", "target": "dev@example.com, nobody", "events": ["run.failed"]},
            "target",
            "target: 'nobody' is not an e-mail address",
        ),
        (
            {"kind": "discord", "target": "ftp://x", "events": ["run.failed"]},
            "target",
            "target: 'ftp://x' is not an http(s) URL",
        ),
        (
            {"kind": "webhook", "target": "https://x.test", "events": ["run.exploded"]},
            "events",
            "events: unknown event 'run.exploded' (events: run.failed, run.fixed, "
            "deploy.started, deploy.succeeded, deploy.rolled-back, incident.opened, "
            "incident.resolved)",
        ),
        (
            {
                "kind": "webhook",
                "target": "https://x.test",
                "events": ["run.failed"],
                "environment": "production",
            },
            "events",
            "events: 'run.failed' is not an environment's event: an environment's channel "
            "gets deploy.started, deploy.succeeded, deploy.rolled-back, incident.opened, "
            "incident.resolved",
        ),
        (
            {
                "kind": "webhook",
                "target": "https://x.test",
                "events": ["deploy.started"],
                "environment": "staging",
            },
            "environment",
            "environment: repository 'shop' has no environment 'staging'",
        ),
        (
            {"kind": "slack", "target": "https://x.test", "events": ["run.failed"], "secret": "s"},
            "secret",
            "secret: only a JSON webhook channel signs with a secret",
        ),
    ],
)
def test_bad_channels_are_refused_naming_the_field(people, shop, body, field, detail):
    answer = Api(people["admin"]).put("repositories/shop/notifications/channels/c", body)
    assert answer.status_code == 400
    assert answer.json() == {"detail": detail, "field": field}
    assert not Channel.objects.exists()


def test_the_commit_status_setting_is_guessed_and_its_token_never_shown(people, shop):
    admin, member = Api(people["admin"]), Api(people["member"])
    unset = member.get("repositories/shop/commit-status")
    assert unset.status_code == 200
    assert unset.json() == {
        "configured": False,
        "forge": "github",
        "api_url": "https://api.github.com",
        "project": "acme/shop",
        "enabled": False,
        "token_set": False,
        "updated_at": None,
    }
    no_token = admin.put("repositories/shop/commit-status", {})
    assert no_token.status_code == 400
    assert no_token.json()["field"] == "token"

    made = admin.put("repositories/shop/commit-status", {"token": "ghp_secret_token"})
    assert made.status_code == 201, made.json()
    assert made.json() | {"updated_at": None} == {
        "configured": True,
        "forge": "github",
        "api_url": "https://api.github.com",
        "project": "acme/shop",
        "enabled": True,
        "token_set": True,
        "updated_at": None,
    }
    shown = member.get("repositories/shop/commit-status")
    assert shown.status_code == 200
    assert "ghp_secret_token" not in shown.content.decode()
    assert ForgeStatus.objects.get().reveal() == "ghp_secret_token"

    moved = admin.put(
        "repositories/shop/commit-status",
        {"forge": "gitlab", "api_url": "https://gitlab.acme.test/api/v4", "project": "42"},
    )
    assert moved.status_code == 200
    assert (moved.json()["forge"], moved.json()["project"]) == ("gitlab", "42")
    assert ForgeStatus.objects.get().reveal() == "ghp_secret_token"

    bad = admin.put("repositories/shop/commit-status", {"forge": "gitea", "project": "nope"})
    assert bad.status_code == 400
    assert bad.json()["field"] == "api_url"
    assert member.put("repositories/shop/commit-status", {"token": "t"}).status_code == 403
    assert member.delete("repositories/shop/commit-status").status_code == 403
    assert admin.delete("repositories/shop/commit-status").status_code == 204
    assert not ForgeStatus.objects.exists()


def test_deliveries_show_attempts_errors_and_next_try(people, shop):
    from django.utils import timezone

    channel = Channel.objects.create(
        repository=shop, name="hook", kind="webhook", target="https://x.test", events=["run.failed"]
    )
    now = timezone.now()
    Outbound.objects.create(
        key="run.failed:run:1:1",
        kind="notification",
        repository=shop,
        channel=channel,
        event="run.failed",
        attempts=2,
        last_error="x.test answered HTTP 500: down",
        last_attempt_at=now,
        next_attempt_at=now,
    )
    listed = Api(people["member"]).get("repositories/shop/notifications/deliveries")
    assert listed.status_code == 200
    [row] = listed.json()
    assert (row["channel"], row["status"], row["attempts"]) == ("hook", "pending", 2)
    assert row["last_error"] == "x.test answered HTTP 500: down"
    assert row["next_attempt_at"] is not None
    sent = Api(people["member"]).get("repositories/shop/notifications/deliveries", status="sent")
    assert sent.json() == []
    wrong = Api(people["member"]).get("repositories/shop/notifications/deliveries", status="x")
    assert wrong.status_code == 400
