"""One error shape for every failure: ``{"detail": "...", "field": ...}``.

Bad input is a 400 that names the field (never pydantic's list of dicts),
missing or bad credentials a 401, a role too weak a 403, an unknown thing a
404, a state that forbids the action (a finished run cannot be cancelled) a 409.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from conveyor.server.accounts.auth import BEARER_HINT

logger = logging.getLogger("conveyor.server.api")


class ApiError(HttpError):
    """An error the API answers with; ``field`` names the input at fault."""

    def __init__(self, status_code: int, detail: str, field: str | None = None) -> None:
        super().__init__(status_code, detail)
        self.field = field


def bad_input(field: str, problem: str) -> ApiError:
    return ApiError(400, f"{field}: {problem}", field=field)


def not_found(what: str) -> ApiError:
    return ApiError(404, what)


def conflict(why: str) -> ApiError:
    return ApiError(409, why)


def forbidden(why: str) -> ApiError:
    return ApiError(403, why)


_SOURCES = ("body", "query", "path", "header", "cookie", "form")
_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "none", "bytes"}


def _is_type_tag(part: str) -> bool:
    """Pydantic names the member of a union it tried in the location (``target.str``)."""
    return part in _TYPE_TAGS or "[" in part or part.startswith("function-")


def _field_and_tag(error: dict[str, Any]) -> tuple[str, str | None]:
    location = [str(part) for part in error.get("loc", ())]
    tag = None
    if location and _is_type_tag(location[-1]) and len(location) > 1:
        tag = location.pop()
    # ninja puts the source first ("body", "query", "path") and, for a body, the
    # parameter's own name second; neither is a field the caller wrote.
    if location and location[0] in _SOURCES:
        source, rest = location[0], location[1:]
        if source == "body" and len(rest) > 1:
            rest = rest[1:]
        return ".".join(rest) or source, tag
    return ".".join(location) or "body", tag


def _validation_error(request: HttpRequest, exc: ValidationError, api: NinjaAPI) -> HttpResponse:
    errors = exc.errors or [{"msg": "invalid input"}]
    first = errors[0]
    field, _ = _field_and_tag(first)
    message = str(first.get("msg", "invalid value"))
    if first.get("type") == "json_invalid" or (field == "body" and "json" in message.lower()):
        return api.create_response(
            request, {"detail": "the request body is not valid JSON", "field": None}, status=400
        )
    same_field = [_field_and_tag(error) for error in errors if _field_and_tag(error)[0] == field]
    tags = [tag for _, tag in same_field if tag]
    if len(tags) > 1:  # a union: say what it takes, not why each member refused
        message = f"expected one of: {', '.join(tags)}"
    detail = f"{field}: {message}"
    others = sorted({_field_and_tag(error)[0] for error in errors} - {field})
    if others:
        detail += f" (also: {', '.join(others)})"
    return api.create_response(request, {"detail": detail, "field": field}, status=400)


def _http_error(request: HttpRequest, exc: HttpError, api: NinjaAPI) -> HttpResponse:
    detail = str(exc)
    if exc.status_code == 400 and detail.startswith("Cannot parse request body"):
        detail = "the request body is not valid JSON"  # ninja's words are vaguer
    body = {"detail": detail, "field": getattr(exc, "field", None)}
    response = api.create_response(request, body, status=exc.status_code)
    if exc.status_code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="conveyor"'
    return response


def _authentication_error(
    request: HttpRequest, exc: AuthenticationError, api: NinjaAPI
) -> HttpResponse:
    detail = str(exc)
    if detail == "Unauthorized":  # ninja's default when no way in matched
        detail = f"authentication required: {BEARER_HINT}"
    response = api.create_response(request, {"detail": detail, "field": None}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="conveyor"'
    return response


def _not_found(request: HttpRequest, exc: Http404, api: NinjaAPI) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "not found"}, status=404)


def _unexpected(request: HttpRequest, exc: Exception, api: NinjaAPI) -> HttpResponse:
    logger.exception("API %s %s failed", request.method, request.path, exc_info=exc)
    body = {"detail": "internal error: the server could not answer (see its log)", "field": None}
    return api.create_response(request, body, status=500)


def install(api: NinjaAPI) -> None:
    api.add_exception_handler(Exception, lambda r, e: _unexpected(r, e, api))
    api.add_exception_handler(ValidationError, lambda r, e: _validation_error(r, e, api))
    api.add_exception_handler(AuthenticationError, lambda r, e: _authentication_error(r, e, api))
    api.add_exception_handler(HttpError, lambda r, e: _http_error(r, e, api))
    api.add_exception_handler(Http404, lambda r, e: _not_found(r, e, api))
