"""GitHub webhooks: ``X-Hub-Signature-256``, ``X-GitHub-Event``, ``X-GitHub-Delivery``."""

from conveyor.server.repos.forges.github.webhook import parse, verify

__all__ = ["parse", "verify"]
