"""GitLab webhooks: ``X-Gitlab-Token``, ``X-Gitlab-Event``, ``Idempotency-Key``."""

from conveyor.server.repos.forges.gitlab.webhook import parse, verify

__all__ = ["parse", "verify"]
