"""Telling people and forges what happened: notifications (e-mail, signed JSON webhooks,
Slack and Discord) and commit statuses, each a queued, retried delivery.

The run path knows nothing of this app: ``receivers`` listens to
``conveyor.server.runs.signals`` and ``monitoring``'s ``incident_changed``, queues
``Outbound`` rows, and the ``DeliveryWorker`` thread sends them.
"""
