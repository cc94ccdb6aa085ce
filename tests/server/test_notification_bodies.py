"""Each channel's body made from one message: what an untrusted workflow or commit may
put in a title cannot break an e-mail's headers, Slack's markup or ping on Discord."""

from __future__ import annotations

import json

from conveyor.server.notifications import bodies

MESSAGE = {
    "event": "run.failed",
    "title": "shop: Evil\nBcc: everyone@example.com #3 on main failed",
    "summary": "The run failed: <!channel> & more (commit abc1234).",
    "url": "https://ci.example/repos/shop/runs/3/",
    "repository": "shop",
    "environment": None,
    "run": {
        "number": 3,
        "workflow": "Evil",
        "status": "failure",
        "event": "push",
        "ref": "refs/heads/main",
        "branch": "main",
        "sha": "abc1234" + "0" * 33,
        "commit_message": "@everyone look",
        "actor": "mallory",
        "reason": "job 'test' failed",
        "url": "https://ci.example/repos/shop/runs/3/",
    },
}


def test_an_email_subject_is_one_line():
    assert bodies.email_subject(MESSAGE) == (
        "[Conveyor] shop: Evil Bcc: everyone@example.com #3 on main failed"
    )
    text = bodies.email_text(MESSAGE)
    assert "Commit: abc1234 @everyone look" in text
    assert "https://ci.example/repos/shop/runs/3/" in text


def test_slack_markup_in_the_message_is_shown_not_obeyed():
    body = json.loads(bodies.slack_body(MESSAGE))
    section = body["blocks"][0]["text"]["text"]
    assert "&lt;!channel&gt; &amp; more" in section
    assert "<!channel>" not in section


def test_discord_pings_nobody_and_keeps_to_its_limits():
    long = dict(MESSAGE, title="x" * 300)
    body = json.loads(bodies.discord_body(long))
    assert body["allowed_mentions"] == {"parse": []}
    assert len(body["embeds"][0]["title"]) == 256
    assert {"name": "Commit", "value": "abc1234 @everyone look", "inline": True} in body["embeds"][
        0
    ]["fields"]
