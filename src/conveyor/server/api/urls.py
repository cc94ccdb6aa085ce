"""``/api/``: the NinjaAPI's URLs, with the answers Django and ninja give outside an
operation (an unknown path, a method a path does not take) in the API's error shape."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase, HttpResponseNotAllowed, JsonResponse
from django.urls import URLPattern, URLResolver, path, re_path

from conveyor.server.api.main import api


def _method_not_allowed_as_json(view: Callable[..., HttpResponseBase]) -> Callable[..., Any]:
    @functools.wraps(view)
    def answered(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if not isinstance(response, HttpResponseNotAllowed):
            return response
        allowed = response["Allow"]
        body = {"detail": f"{request.method} is not allowed here (allowed: {allowed})"}
        replaced = JsonResponse({**body, "field": None}, status=405)
        replaced["Allow"] = allowed
        return replaced

    return answered


def unknown_endpoint(request: HttpRequest, rest: str) -> JsonResponse:
    return JsonResponse(
        {"detail": f"no API endpoint /api/{rest} (see /api/docs)", "field": None}, status=404
    )


# Not "app_name": Django's include() would take a module variable of that name as
# this module's namespace.
patterns, ninja_app, ninja_namespace = api.urls
for pattern in patterns:
    if isinstance(pattern, URLPattern):
        pattern.callback = _method_not_allowed_as_json(pattern.callback)

urlpatterns: list[URLPattern | URLResolver] = [
    path("", (patterns, ninja_app, ninja_namespace)),
    re_path(r"^(?P<rest>.*)$", unknown_endpoint, name="api-unknown"),
]
