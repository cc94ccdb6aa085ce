"""The generic signed JSON webhook (docs/webhooks.md): ``X-Conveyor-Signature``."""

from conveyor.server.repos.forges.generic.webhook import parse, sign, verify

__all__ = ["parse", "sign", "verify"]
