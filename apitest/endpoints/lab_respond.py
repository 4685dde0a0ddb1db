"""``/v1/respond``: one URL combining status, latency, headers and body, for any method.

``?status=503&delay_ms=250&header=Retry-After:2&header=Cache-Control:no-store&body=busy&content_type=text/plain``

- ``status`` 200 to 599 (default 200); 204 and 304 never carry a body.
- ``delay_ms`` 0 to 60000 (the limit of ``/v1/slow``), waited before the status line; a client that
  disconnects meanwhile gets nothing and the audit row says ``client_disconnected`` (status 499).
- ``header=Name:Value``, repeatable (at most :data:`MAX_HEADERS`); repeated names become repeated header
  lines. Names are RFC 9110 tokens; values printable ASCII (no CR, LF or other controls); framing and
  connection headers the server owns are refused, and ``Content-Type`` is set with ``content_type``.
  Headers that would act on the browser of whoever opens the link, on the fixture's (and the portal's)
  origin, are refused too: ``Set-Cookie``, ``Refresh``, ``Clear-Site-Data``, ``Strict-Transport-Security``,
  and a ``Location`` that is not a relative path or an http(s) URL on ``lab.redirect_hosts``.
- ``body`` (at most :data:`MAX_BODY` bytes of UTF-8) is sent as is, by default as ``text/plain``;
  without ``body`` the answer is ``{"status": <code>, "message": "<reason phrase>"}`` as JSON.
- ``content_type`` overrides the Content-Type of either.

The request body, if any, is not read (it is discarded unread, still subject to ``server.max_body_bytes``).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from apitest.config.hosts import host_name
from apitest.endpoints.deps import EndpointDeps, needs_deps
from apitest.endpoints.helpers import non_negative_bounded, query, sleep_unless_disconnected
from apitest.endpoints.statuses import status_text
from apitest.failures import note_failure
from apitest.http import ParamError, json_bytes, parse_int

DELAY_MAX_MS = 60000  # the /v1/slow limit
MAX_HEADERS = 20
MAX_NAME = 64
MAX_VALUE = 1024
MAX_BODY = 8192  # the body travels in the URL; 8 KiB passes every common server and gateway
MAX_CONTENT_TYPE = 200
NO_BODY = (204, 304)
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
VALUE = re.compile(r"[\t\x20-\x7e]*")
MEDIA_TYPE = re.compile(r"[!#$&^_.+0-9A-Za-z-]+/[!#$&^_.+0-9A-Za-z-]+(\s*;[\t\x20-\x7e]*)?")
SERVER_OWNED = frozenset(
    {
        "connection",
        "content-length",
        "date",
        "keep-alive",
        "proxy-connection",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "x-request-id",
    }
)

# Would act on the browser (its cookies, storage, transport policy, or where it goes next) on our origin.
BROWSER_ACTING = {
    "set-cookie": "it would set a cookie on the fixture's origin, which the portal shares",
    "refresh": "it would send the browser elsewhere",
    "clear-site-data": "it would wipe the portal's cookies and storage",
    "strict-transport-security": "it would pin HTTPS for the fixture's host in the browser",
}


def check_location(value: str, redirect_hosts: frozenset[str]) -> None:
    """A relative path (``/next``, ``next``, ``?page=2``) or an http(s) URL on ``lab.redirect_hosts``."""
    if "\\" in value or "\t" in value or value.startswith("//"):
        raise ParamError('header "Location" must be a relative path or a URL on lab.redirect_hosts')
    parts = urlsplit(value)
    if not parts.scheme and not parts.netloc:
        return
    host = host_name(parts.netloc.rpartition("@")[2])
    if parts.scheme.lower() in ("http", "https") and host and host in redirect_hosts:
        return
    hosts = ", ".join(sorted(redirect_hosts)) or "empty"
    raise ParamError(
        f'header "Location" may point off-site only to lab.redirect_hosts ({hosts}); otherwise use a relative path'
    )


def parse_status(request: Request) -> int:
    raw = query(request, "status")
    if raw == "":
        return 200
    code = parse_int(raw)
    if code is None or not 200 <= code <= 599:
        raise ParamError("status must be an integer in [200, 599]")
    return code


def parse_header(raw: str) -> tuple[str, str]:
    name, sep, value = raw.partition(":")
    if not sep:
        raise ParamError(f'header "{raw[:MAX_NAME]}" must be Name:Value')
    if len(name) > MAX_NAME or not TOKEN.fullmatch(name):
        raise ParamError(f'header name "{name[:MAX_NAME]}" is not a valid token (at most {MAX_NAME} characters)')
    lowered = name.lower()
    if lowered == "content-type":
        raise ParamError("use content_type to set Content-Type")
    if lowered in SERVER_OWNED:
        raise ParamError(f'header "{name}" is set by the server and cannot be overridden')
    if lowered in BROWSER_ACTING:
        raise ParamError(f'header "{name}" is not allowed: {BROWSER_ACTING[lowered]}')
    value = value.strip(" \t")
    if not VALUE.fullmatch(value):
        raise ParamError(f'header "{name}" value must be printable ASCII (no CR, LF or other control characters)')
    if len(value) > MAX_VALUE:
        raise ParamError(f'header "{name}" value exceeds max {MAX_VALUE} characters')
    return name, value


def parse_headers(request: Request, redirect_hosts: list[str]) -> list[tuple[str, str]]:
    """The ``header`` parameters; a ``Location`` must point at a host of ``redirect_hosts`` (lab.redirect_hosts)."""
    raw = request.query_params.getlist("header")
    if len(raw) > MAX_HEADERS:
        raise ParamError(f"at most {MAX_HEADERS} header parameters")
    headers = [parse_header(item) for item in raw]
    locations = [value for name, value in headers if name.lower() == "location"]
    if locations:
        allowed = frozenset(host_name(h) for h in redirect_hosts)
        for value in locations:
            check_location(value, allowed)
    return headers


def parse_content_type(request: Request) -> str | None:
    raw = query(request, "content_type")
    if raw == "":
        return None
    if len(raw) > MAX_CONTENT_TYPE or not MEDIA_TYPE.fullmatch(raw):
        raise ParamError("content_type must be a media type such as application/json")
    return raw


def body_and_type(request: Request, status: int) -> tuple[bytes, str]:
    content_type = parse_content_type(request)
    if "body" not in request.query_params:
        return json_bytes({"status": status, "message": status_text(status)}), content_type or "application/json"
    body = request.query_params["body"].encode()
    if len(body) > MAX_BODY:
        raise ParamError(f"body exceeds max {MAX_BODY} bytes")
    return body, content_type or "text/plain; charset=utf-8"


@needs_deps
async def respond(request: Request, *, deps: EndpointDeps) -> Response:
    status = parse_status(request)
    delay_ms = non_negative_bounded(request, "delay_ms", 0, DELAY_MAX_MS)
    headers = parse_headers(request, deps.settings.lab.redirect_hosts)
    body, content_type = body_and_type(request, status)
    if not await sleep_unless_disconnected(request, delay_ms / 1000):
        note_failure(request.scope, "client_disconnected", f"client left during delay_ms={delay_ms}")
        return Response(status_code=499)
    if status >= 400:
        note_failure(request.scope, "fault_injected", f"status {status} requested")
    response = Response(b"" if status in NO_BODY else body, status_code=status)
    if status not in NO_BODY:
        response.raw_headers.append((b"content-type", content_type.encode("latin-1")))
    response.raw_headers += [(name.lower().encode(), value.encode()) for name, value in headers]
    return response
