"""The OpenAPI document and the docs page need a user too (login for everything but
badges and webhooks): a token for tools, the session for people."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase, JsonResponse

from conveyor.server.accounts.auth import BEARER_HINT, token_for


def _unauthorized(detail: str) -> JsonResponse:
    response = JsonResponse({"detail": detail, "field": None}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="conveyor"'
    return response


def login_or_token_required(view: Callable[..., HttpResponseBase]) -> Callable[..., Any]:
    @functools.wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            if token_for(header[len("bearer ") :]) is None:
                return _unauthorized("the API token is invalid or was revoked")
            return view(request, *args, **kwargs)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            return view(request, *args, **kwargs)
        if "text/html" in request.headers.get("Accept", ""):
            return redirect_to_login(request.get_full_path())
        return _unauthorized(f"authentication required: {BEARER_HINT}")

    return checked
