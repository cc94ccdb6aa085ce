"""The text of the ``post-receive`` hook that ``conveyor repo add`` writes into a bare repository.

It runs with the server's interpreter (absolute path, ``-S``: no site packages)
and only the standard library, so a push waits for it a few tens of
milliseconds. It first runs the hook it replaced (kept beside it), then posts
the pushed ``old new ref`` lines to ``/hooks/local/<name>``, signed like the
generic webhook, of the URL the server recorded in its data directory when it
started (unless ``CONVEYOR_URL`` chose one when the hook was written). A push
never fails because of it: when the server is down it says so, and the server
catches up with the refs when it starts.
"""

from __future__ import annotations

MARKER = "# conveyor post-receive hook"
CHAINED_NAME = "post-receive.before-conveyor"

_TEMPLATE = """#!{python} -S
{marker} for repository {name!r}: tells the Conveyor server about each push.
# Written by `conveyor repo add`; `conveyor repo remove` takes it out again and puts
# back the hook it replaced ({chained}), which it runs first.
import hashlib
import hmac
import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

BASE_URL = {base_url!r}
HOOK_URL = {hook_url!r}
HOOK_PATH = {hook_path!r}
# Where the server records the URL it listens on at each start; None when the URL
# above was chosen by hand (CONVEYOR_URL) and is to be used as it is.
URL_FILE = {url_file!r}
SECRET = {secret!r}
CHAINED = os.path.join(os.path.dirname(os.path.abspath(__file__)), {chained!r})


def say(message):
    print("conveyor: " + message, file=sys.stderr, flush=True)


# The server's base URL as it recorded it when it started, else the one above.
def server_url():
    if URL_FILE:
        try:
            with open(URL_FILE, encoding="utf-8") as handle:
                text = handle.read(2048).strip().rstrip("/")
        except (OSError, ValueError):
            text = ""
        if text.startswith(("http://", "https://")):
            return text
    return BASE_URL


def opener(url):
    host = urllib.parse.urlsplit(url).hostname or ""
    if host in ("127.0.0.1", "localhost", "::1"):
        # A proxy from the pusher's environment must not stand between us and this machine.
        return urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
    return urllib.request.build_opener()


def timeout():
    try:
        return float(os.environ.get("CONVEYOR_HOOK_TIMEOUT", "60"))
    except ValueError:
        return 60.0


def notify(lines):
    base = server_url()
    hook_url = HOOK_URL if base == BASE_URL else base + HOOK_PATH
    pusher = os.environ.get("USER") or os.environ.get("LOGNAME") or ""
    body = json.dumps(
        {{"delivery": str(uuid.uuid4()), "pusher": pusher, "lines": lines}}
    ).encode("utf-8")
    signature = "sha256=" + hmac.new(SECRET.encode("utf-8"), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        hook_url,
        data=body,
        method="POST",
        headers={{"Content-Type": "application/json", "X-Conveyor-Signature": signature}},
    )
    try:
        with opener(hook_url).open(request, timeout=timeout()) as response:
            answer = json.loads(response.read().decode("utf-8") or "{{}}")
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")[:500]
        try:
            detail = json.loads(detail).get("error", detail)
        except (ValueError, AttributeError):
            pass
        say("the server at %s refused the push notification (HTTP %s): %s"
            % (base, error.code, detail))
        return
    except TimeoutError:
        say("the server at %s did not answer in time; it will pick the push up at its next look"
            % base)
        return
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            say("the server at %s did not answer in time; it will pick the push up at its next look"
                % base)
            return
        say("server not reachable at %s; the push will be picked up when it starts" % base)
        return
    except (OSError, ValueError):
        say("server not reachable at %s; the push will be picked up when it starts" % base)
        return
    for message in answer.get("messages", []):
        say(message)


def main():
    data = sys.stdin.buffer.read()
    status = 0
    if os.access(CHAINED, os.X_OK):
        status = subprocess.run([CHAINED], input=data, check=False).returncode
    lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    if lines:
        notify(lines)
    return status


sys.exit(main())
"""


def hook_text(
    *, python: str, name: str, base_url: str, secret: str, url_file: str | None = None
) -> str:
    """The hook for repository ``name`` posting to ``/hooks/local/<name>`` of the URL
    recorded in ``url_file`` when there is one (the server may have been restarted on
    another port since), else of ``base_url``."""
    base = base_url.rstrip("/")
    path = f"/hooks/local/{name}"
    return _TEMPLATE.format(
        python=python,
        marker=MARKER,
        name=name,
        base_url=base,
        hook_url=base + path,
        hook_path=path,
        url_file=url_file,
        secret=secret,
        chained=CHAINED_NAME,
    )
