"""A notification's message as each channel wants it: an e-mail's subject and text, our
JSON webhook's body, a Slack-compatible body (``text`` and blocks) and a
Discord-compatible one (``content`` and an embed)."""

from __future__ import annotations

import json
from typing import Any

from conveyor.server.notifications.messages import Message

# Red for what went wrong, green for what went right, blue for what started.
_BAD = ("run.failed", "deploy.rolled-back", "incident.opened")
_GOOD = ("run.fixed", "deploy.succeeded", "incident.resolved")


def _colour(event: str) -> int:
    if event in _BAD:
        return 0xCF222E
    if event in _GOOD:
        return 0x1A7F37
    return 0x0B5CAD


def _facts(message: Message) -> list[tuple[str, str]]:
    """The short facts each channel lists under the summary."""
    facts = [("Repository", message["repository"])]
    if message.get("environment"):
        facts.append(("Environment", message["environment"]))
    run = message.get("run")
    if run:
        facts.append(("Run", f"{run['workflow']} #{run['number']}"))
        if run["branch"] or run["ref"]:
            facts.append(("Branch" if run["branch"] else "Ref", run["branch"] or run["ref"]))
        if run["sha"]:
            commit = run["sha"][:7]
            if run["commit_message"]:
                commit += f" {run['commit_message']}"
            facts.append(("Commit", commit))
        if run["actor"]:
            facts.append(("By", run["actor"]))
    return facts


def email_subject(message: Message) -> str:
    # A workflow's name is the workflow author's text: a line break in it must not
    # become a header of its own (Django would refuse the whole e-mail).
    return " ".join(f"[Conveyor] {message['title']}".split())


def email_text(message: Message) -> str:
    lines = [message["title"], "", message["summary"], ""]
    lines += [f"{name}: {value}" for name, value in _facts(message)]
    lines += ["", message["url"], "", "-- ", "Sent by Conveyor: this repository's notifications."]
    return "\n".join(lines) + "\n"


def webhook_body(message: Message) -> bytes:
    """Our JSON webhook: the message as it is (docs/notifications.md lists its fields)."""
    return json.dumps(message, sort_keys=True).encode("utf-8")


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn gives <, > and & a meaning; everything else is shown as written.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(message: Message) -> bytes:
    title = _slack_escape(message["title"])
    facts = " · ".join(f"{name}: {_slack_escape(value)}" for name, value in _facts(message))
    body: dict[str, Any] = {
        "text": f"{message['title']}: {message['summary']}",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*<{message['url']}|{title}>*\n{_slack_escape(message['summary'])}",
                },
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": facts}]},
        ],
    }
    return json.dumps(body).encode("utf-8")


def discord_body(message: Message) -> bytes:
    # Discord's limits: 256 characters a title, 4096 a description, 1024 a field value.
    embed = {
        "title": message["title"][:256],
        "description": message["summary"][:4096],
        "url": message["url"],
        "color": _colour(message["event"]),
        "fields": [
            {"name": name, "value": value[:1024], "inline": True} for name, value in _facts(message)
        ],
    }
    body = {
        "content": message["title"][:2000],
        "embeds": [embed],
        # A commit message saying @everyone must not ping anyone.
        "allowed_mentions": {"parse": []},
    }
    return json.dumps(body).encode("utf-8")
