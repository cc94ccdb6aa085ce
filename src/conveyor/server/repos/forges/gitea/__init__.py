"""Gitea and Forgejo webhooks: ``X-Gitea-Signature`` / ``X-Forgejo-Signature`` (hex HMAC)."""

from conveyor.server.repos.forges.gitea.webhook import parse, verify

__all__ = ["parse", "verify"]
