"""One health check: ``GET`` a URL with a short timeout; healthy when it answers 2xx or
3xx (as the deploy's own check), else what was wrong in a line: the status and the
start of the body, or why there was no answer.

Plain ``http.client`` on a fresh connection: cheap (no session, no pool to keep), and
it never follows a redirect, so a 3xx is the service answering, not another's.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import NamedTuple
from urllib.parse import urlsplit

BODY_SHOWN = 300  # characters of a failing response's body kept in the incident
_READ_LIMIT = 64 * 1024  # a healthy body is read this far, then the connection closed


class ProbeResult(NamedTuple):
    healthy: bool
    # "HTTP 200", "HTTP 500 Internal Server Error: <body>", "connection refused by ...":
    # the same words for the same answer, so a pass writes one UPDATE per kind of answer.
    detail: str


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be checked (None when it can), for forms and the API."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"{url!r} is not an http:// or https:// URL"
    if not parts.hostname:
        return f"{url!r} names no host"
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return f"{url!r} has a bad port"
    return None


def probe(url: str, host: str = "", timeout: float = 5.0) -> ProbeResult:
    """Check ``url`` once, sending ``Host: host`` when given."""
    problem = url_problem(url)
    if problem is not None:
        return ProbeResult(False, problem)
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    try:
        headers = {"User-Agent": "conveyor-health-watch", "Connection": "close"}
        if host:
            headers["Host"] = host
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read(_READ_LIMIT)
    except TimeoutError:
        return ProbeResult(False, f"no answer within {timeout:g} s")
    except ConnectionRefusedError:
        return ProbeResult(False, f"connection refused by {parts.netloc}")
    except socket.gaierror as error:
        return ProbeResult(False, f"cannot resolve {parts.hostname}: {error.strerror}")
    except ssl.SSLError as error:
        return ProbeResult(False, f"TLS failed: {error.reason or error}")
    except (OSError, http.client.HTTPException) as error:
        return ProbeResult(False, f"{type(error).__name__}: {error}".rstrip(": "))
    finally:
        connection.close()
    if 200 <= response.status < 400:
        return ProbeResult(True, f"HTTP {response.status}")
    text = body.decode("utf-8", "replace").strip()
    if len(text) > BODY_SHOWN:
        text = text[:BODY_SHOWN] + "…"
    shown = f"HTTP {response.status} {response.reason}".rstrip()
    return ProbeResult(False, f"{shown}: {text}" if text else shown)
