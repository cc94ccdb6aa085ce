"""HTTP/1.1 on the wire for the deploy proxy: parsing heads and forwarding one exchange.

Only what a reverse proxy in front of one Django app server needs: a request head
is parsed, its body is copied as it was framed (``Content-Length`` or chunked,
chunks passed through verbatim), and the upstream's response is streamed back
with its own framing. One upstream connection per request, ``Connection: close``:
gunicorn's default sync workers close after every response anyway, and no pool
means no stale pooled connection to retry when an app server stops.

Hop-by-hop headers are dropped in both directions (RFC 9110 section 7.6.1);
``Upgrade`` with them, so WebSockets are not proxied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

HEAD_LIMIT = 64 * 1024
COPY_CHUNK = 64 * 1024
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
        "transfer-encoding",  # re-added by the framing code when the body is chunked
    }
)
_TOKEN_CHARS = frozenset(
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
REASONS = {
    400: "Bad Request",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    503: "Service Unavailable",
    501: "Not Implemented",
}


class BadMessage(Exception):
    """A head or body the proxy refuses to pass on; ``status`` is what the client gets."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class UpstreamFailed(Exception):
    """The upstream could not be reached, or broke off before its response head."""


@dataclass
class Head:
    """A parsed request or response head. ``first`` is the start line's three parts."""

    first: tuple[str, str, str]
    headers: list[tuple[str, str]]

    def get(self, name: str) -> str | None:
        values = self.get_all(name)
        return ", ".join(values) if values else None

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key.lower() == name]

    def connection_tokens(self) -> set[str]:
        return {t.strip().lower() for v in self.get_all("connection") for t in v.split(",")}

    def chunked(self) -> bool:
        values = self.get_all("transfer-encoding")
        codings = [c.strip().lower() for v in values for c in v.split(",")]
        return bool(codings) and codings[-1] == "chunked"

    def content_length(self) -> int | None:
        values = {v.strip() for v in self.get_all("content-length")}
        if not values:
            return None
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise BadMessage(400, f"bad Content-Length: {sorted(values)}")
        return int(next(iter(values)))


def parse_head(raw: bytes) -> Head:
    """Parse a head ending in CRLF CRLF (request or response: the start line is split in three)."""
    try:
        text = raw.decode("latin-1")
    except UnicodeDecodeError as error:  # latin-1 decodes anything; kept for clarity
        raise BadMessage(400, "undecodable head") from error
    lines = text[:-4].split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) == 2:
        parts.append("")  # a status line without a reason phrase
    if len(parts) != 3 or not all(parts[:2]):
        raise BadMessage(400, f"bad start line: {lines[0][:100]!r}")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or not set(name.encode("latin-1")) <= _TOKEN_CHARS:
            raise BadMessage(400, f"bad header line: {line[:100]!r}")
        headers.append((name, value.strip(" \t")))
    return Head((parts[0], parts[1], parts[2]), headers)


def request_framing(head: Head) -> tuple[bool, int]:
    """(chunked, content length) of a request body; refuses ambiguous framing (smuggling)."""
    if head.get_all("transfer-encoding"):
        if head.get_all("content-length"):
            raise BadMessage(400, "both Transfer-Encoding and Content-Length")
        if not head.chunked():
            raise BadMessage(501, "a Transfer-Encoding other than chunked")
        return True, 0
    return False, head.content_length() or 0


async def copy_exact(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, size: int) -> None:
    while size:
        chunk = await reader.read(min(size, COPY_CHUNK))
        if not chunk:
            raise asyncio.IncompleteReadError(b"", size)
        writer.write(chunk)
        await writer.drain()
        size -= len(chunk)


async def copy_chunked(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, dechunk: bool = False
) -> None:
    """Copy a chunked body, stopping at its end: verbatim (extensions and trailers included),
    or with ``dechunk`` only the data (for an HTTP/1.0 client, whose connection then closes).
    """
    while True:
        line = await reader.readuntil(b"\r\n")
        size_text = line.split(b";", 1)[0].strip()
        if not size_text or not all(c in b"0123456789abcdefABCDEF" for c in size_text):
            raise BadMessage(400, f"bad chunk size line: {line[:40]!r}")
        if not dechunk:
            writer.write(line)
        size = int(size_text, 16)
        if size == 0:
            while True:  # trailers, then the empty line
                trailer = await reader.readuntil(b"\r\n")
                if not dechunk:
                    writer.write(trailer)
                if trailer == b"\r\n":
                    await writer.drain()
                    return
        await copy_exact(reader, writer, size)
        if await reader.readexactly(2) != b"\r\n":
            raise BadMessage(400, "chunk not followed by CRLF")
        if not dechunk:
            writer.write(b"\r\n")


async def copy_to_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while chunk := await reader.read(COPY_CHUNK):
        writer.write(chunk)
        await writer.drain()


def encode_head(first: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [first, *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def end_to_end(head: Head) -> list[tuple[str, str]]:
    """The head's headers without hop-by-hop ones (those named in Connection included)."""
    dropped = HOP_BY_HOP | head.connection_tokens()
    return [(k, v) for k, v in head.headers if k.lower() not in dropped]


def simple_response(status: int, text: str, close: bool) -> bytes:
    body = (text + "\n").encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    if close:
        headers.append(("Connection", "close"))
    return encode_head(f"HTTP/1.1 {status} {REASONS.get(status, '')}", headers) + body


@dataclass
class Client:
    """The client side of one exchange: its streams and what the forwarded headers say."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    address: str
    trusted_front: bool  # a loopback peer: a local TLS terminator's X-Forwarded-* are kept
    # Whether the proxy is stopping, asked when the response head is written: then the
    # answer says Connection: close, as the connection ends after it.
    stopping: Callable[[], bool] = lambda: False


def forwarded_headers(request: Head, client: Client) -> list[tuple[str, str]]:
    """The request's end-to-end headers plus X-Forwarded-For/Proto/Host; Host itself is kept."""
    own = {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "expect"}
    headers = [(k, v) for k, v in end_to_end(request) if k.lower() not in own]
    earlier_for = request.get("x-forwarded-for")
    # X-Forwarded-For is a chain: appended to, as every proxy does. Proto and Host decide
    # what Django believes about the scheme and host, so only a local front may set them.
    headers.append(
        ("X-Forwarded-For", f"{earlier_for}, {client.address}" if earlier_for else client.address)
    )
    proto = request.get("x-forwarded-proto") if client.trusted_front else None
    headers.append(("X-Forwarded-Proto", proto or "http"))
    front_host = request.get("x-forwarded-host") if client.trusted_front else None
    host = front_host or request.get("host")
    if host:
        headers.append(("X-Forwarded-Host", host))
    if request.chunked():
        headers.append(("Transfer-Encoding", "chunked"))  # the body is copied chunk by chunk
    headers.append(("Connection", "close"))
    return headers


async def forward(request: Head, client: Client, upstream: str, connect_timeout: float) -> bool:
    """Forward one request to ``upstream`` and stream its response back.

    Returns whether the client connection may carry another request. Raises
    ``UpstreamFailed`` while nothing has been written to the client yet (the caller
    answers 502); later failures cut the client connection, as any proxy must.
    """
    method, target, version = request.first
    chunked, length = request_framing(request)
    client_http11 = version == "HTTP/1.1"
    host, _, port = upstream.rpartition(":")
    try:
        up_reader, up_writer = await asyncio.wait_for(
            asyncio.open_connection(host.strip("[]"), int(port), limit=HEAD_LIMIT), connect_timeout
        )
    except (OSError, TimeoutError) as error:
        raise UpstreamFailed(f"cannot connect to {upstream}: {error}") from error
    try:
        if client_http11 and "100-continue" in (request.get("expect") or "").lower():
            client.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        # An HTTP/1.0 client is forwarded as 1.0, so the upstream never chunks its answer.
        up_version = "HTTP/1.1" if client_http11 else "HTTP/1.0"
        up_writer.write(
            encode_head(f"{method} {target} {up_version}", forwarded_headers(request, client))
        )
        body_complete = True
        try:
            if chunked:
                await copy_chunked(client.reader, up_writer)
            elif length:
                await copy_exact(client.reader, up_writer, length)
            await up_writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            # Either side broke off mid-body (or sent a chunk line past the limit). If the
            # upstream answered early (413...) its answer is still passed on, but the
            # client's unread body ends the connection.
            body_complete = False
        return await _relay_response(request, client, up_reader, body_complete, client_http11)
    finally:
        up_writer.close()


async def _relay_response(
    request: Head,
    client: Client,
    up_reader: asyncio.StreamReader,
    body_complete: bool,
    client_http11: bool,
) -> bool:
    while True:
        try:
            raw = await up_reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as error:
            raise UpstreamFailed(f"no response head from the upstream: {error!r}") from error
        try:
            response = parse_head(raw)
            status = int(response.first[1])
        except (BadMessage, ValueError) as error:
            raise UpstreamFailed(f"bad response head from the upstream: {error}") from error
        if 100 <= status < 200 and status != 101:
            if client_http11 and status != 100:  # 100 was already sent by us, once
                client.writer.write(raw)
            continue
        break
    no_body = request.first[0] == "HEAD" or status in (204, 304)
    headers = end_to_end(response)
    if no_body:
        framing = "none"
    elif response.chunked():
        # An HTTP/1.0 client cannot read chunks: it gets the data, delimited by the close.
        framing = "chunked" if client_http11 else "dechunk"
        if client_http11:
            headers.append(("Transfer-Encoding", "chunked"))
    elif response.content_length() is not None:
        framing = "length"
    else:
        framing = "eof"
    keep_alive = (
        client_http11
        and body_complete
        and framing not in ("eof", "dechunk")
        and "close" not in request.connection_tokens()
        and not client.stopping()
    )
    if not keep_alive:
        headers.append(("Connection", "close"))
    client.writer.write(encode_head(f"HTTP/1.1 {status} {response.first[2]}".rstrip(), headers))
    try:
        if framing in ("chunked", "dechunk"):
            await copy_chunked(up_reader, client.writer, dechunk=framing == "dechunk")
        elif framing == "length":
            await copy_exact(up_reader, client.writer, response.content_length() or 0)
        elif framing == "eof":
            await copy_to_eof(up_reader, client.writer)
        await client.writer.drain()
    except (BadMessage, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return False  # the upstream broke off mid-body: the client sees a cut connection
    return keep_alive
