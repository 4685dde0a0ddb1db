"""``/cookies``, ``/cookies/set`` and ``/cookies/delete``.

``/v1`` shares its origin with the portal, so a cookie set here must never reach or replace the
portal's: the portal session cookie name and the ``__Host-`` / ``__Secure-`` prefixes are refused, and
every cookie is scoped to ``Path=/v1`` (or a ``path`` under ``/v1``). ``domain`` is accepted only when it
is the request's own host, so a gateway's Domain rewriting can be tested without reaching other hosts.

References: RFC 6265 §4.1.1 (cookie-name is a token, cookie-value is cookie-octets), RFC 6265bis §4.1.3
(cookie name prefixes).
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.deps import EndpointDeps, needs_deps
from apitest.endpoints.helpers import is_redacted
from apitest.http import ParamError, json_response

OPTIONS = ("path", "domain")  # query names that are attributes, not cookies
MAX_COOKIES = 20
MAX_VALUE = 4096
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")
_OCTETS = re.compile(r'[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*|"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"')
_PATH = re.compile(r"/v1(?:/[\x21-\x3a\x3c-\x7e]*)?")
_DOMAIN = re.compile(r"\.?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_PREFIXES = ("__host-", "__secure-")
EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"


def checked_name(name: str, portal_cookie: str) -> str:
    if not _TOKEN.fullmatch(name):
        raise ParamError(f"invalid cookie name {name[:64]!r}: must be an RFC 6265 token of 1-256 characters")
    if name.lower() == portal_cookie.lower():
        raise ParamError(f"cookie name {name!r} is refused: it is the portal session cookie")
    if name.lower().startswith(_PREFIXES):
        raise ParamError(f"cookie name {name!r} is refused: __Host- and __Secure- cookies are not set from /v1")
    return name


def attributes(request: Request) -> str:
    """``; Path=...[; Domain=...]; HttpOnly`` from the ``path`` and ``domain`` options."""
    path = request.query_params.get("path", "/v1")
    if not _PATH.fullmatch(path) or len(path) > 1024:
        raise ParamError("invalid path: must be /v1 or start with /v1/ (printable ASCII, no ';')")
    out = f"; Path={path}"
    if "domain" in request.query_params:
        domain = request.query_params["domain"]
        host = request.headers.get("host", "").rsplit(":", 1)[0].lower()
        if not _DOMAIN.fullmatch(domain) or domain.lower().lstrip(".") != host:
            raise ParamError("invalid domain: only the request's own host may be set as Domain")
        out += f"; Domain={domain}"
    return out + "; HttpOnly"


def requested(request: Request, portal_cookie: str) -> list[tuple[str, str]]:
    """``(name, value)`` of the cookies in the query (first value of each name), validated; the portal's
    session cookie ``portal_cookie`` may not be set or deleted."""
    names = [n for n in dict.fromkeys(request.query_params.keys()) if n not in OPTIONS]
    if len(names) > MAX_COOKIES:
        raise ParamError(f"too many cookies: at most {MAX_COOKIES} per request")
    out = []
    for name in names:
        value = request.query_params.getlist(name)[0]
        if len(value) > MAX_VALUE or not _OCTETS.fullmatch(value):
            raise ParamError(f"invalid value of cookie {name[:64]!r}: RFC 6265 cookie-octets, at most {MAX_VALUE}")
        out.append((checked_name(name, portal_cookie), value))
    return out


def to_cookies(set_cookies: list[str]) -> Response:
    response = Response(status_code=302, headers={"Location": "/v1/cookies"})
    response.raw_headers += [(b"set-cookie", line.encode("latin-1")) for line in set_cookies]
    return response


@needs_deps
async def cookies(request: Request, *, deps: EndpointDeps) -> Response:
    """The request's cookies; the portal session cookie and names matching ``audit.redact_keys`` show
    ``[redacted]`` (an HttpOnly session cookie must not become readable through a same-origin /v1 response)."""
    settings = deps.settings
    portal_cookie = settings.portal.cookie_name.lower()
    return json_response(
        {
            name: "[redacted]"
            if name.lower() == portal_cookie or is_redacted(name, settings.audit.redact_keys)
            else value
            for name, value in request.cookies.items()
        }
    )


@needs_deps
async def set_cookies(request: Request, *, deps: EndpointDeps) -> Response:
    attrs = attributes(request)
    return to_cookies(
        [f"{name}={value}{attrs}" for name, value in requested(request, deps.settings.portal.cookie_name)]
    )


@needs_deps
async def delete_cookies(request: Request, *, deps: EndpointDeps) -> Response:
    attrs = attributes(request)
    return to_cookies(
        [
            f"{name}=; Max-Age=0; Expires={EXPIRED}{attrs}"
            for name, _ in requested(request, deps.settings.portal.cookie_name)
        ]
    )
