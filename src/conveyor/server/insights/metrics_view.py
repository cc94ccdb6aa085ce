"""``GET /metrics``: the collector's figures in Prometheus' text format, for a scraper
that sends ``Authorization: Bearer <CONVEYOR_METRICS_TOKEN>``.

With no token set the endpoint does not exist (404): metrics name every repository and
environment, so they are off until an admin chooses a token. A missing token is a 401
(with ``WWW-Authenticate``), a wrong one a 403.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from conveyor.server.insights.collector import DatabaseCollector

BEARER = "bearer "


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    expected = getattr(settings, "CONVEYOR_METRICS_TOKEN", "")
    if not expected:
        raise Http404("/metrics is off: set CONVEYOR_METRICS_TOKEN to turn it on")
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith(BEARER):
        response = HttpResponse(
            "authentication required: send Authorization: Bearer <CONVEYOR_METRICS_TOKEN>\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = 'Bearer realm="conveyor metrics"'
        return response
    given = header[len(BEARER) :].strip()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return HttpResponse(
            "wrong metrics token\n", status=403, content_type="text/plain; charset=utf-8"
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
