"""Webhooks from forges: one folder a forge, each turning a signed delivery into a ``ForgeEvent``.

Every forge module offers ``verify(headers, body, secret)`` (raises ``SignatureInvalid``)
and ``parse(headers, body) -> ForgeEvent`` (raises ``PayloadInvalid``). Nothing here
touches the database: ``repos.views`` records the delivery and creates the runs.
"""
