"""Redirect chains and ``/redirect-to``.

``/redirect/{n}`` and ``/relative-redirect/{n}`` answer 302 to ``/v1/relative-redirect/{n-1}`` (a path
without scheme or host), ``/absolute-redirect/{n}`` (and ``/redirect/{n}?absolute=true``) to the same
URL made absolute from the request's own scheme and ``Host`` (:func:`request_origin`, as the pagination
links); the last hop goes to ``/v1/get``. ``/redirect-to`` sends only relative URLs, or absolute ones whose
host is listed in ``lab.redirect_hosts``: this fixture is never an open redirect.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.deps import EndpointDeps, needs_deps
from apitest.endpoints.helpers import query, request_origin
from apitest.http import INT64_MAX, ParamError, parse_int

REDIRECT_CODES = frozenset({300, 301, 302, 303, 305, 307, 308})  # registered redirects (documented one by one)

PREFIX = "/v1"
_PRINTABLE = re.compile(r"[\x21-\x7e]+")


def redirect_count(request: Request) -> int:
    n = parse_int(request.path_params["n"])
    if n is None or n < 1:
        raise ParamError(f"invalid redirect count: must be an integer in [1, {INT64_MAX}]")
    return n


def next_hop(request: Request, n: int, *, absolute: bool) -> Response:
    """302 to the next hop of a chain that has ``n`` redirects left (``n`` = 0: the end, ``/v1/get``)."""
    kind = "absolute-redirect" if absolute else "relative-redirect"
    path = f"{PREFIX}/{kind}/{n}" if n > 0 else f"{PREFIX}/get"
    location = request_origin(request) + path if absolute else path
    return Response(status_code=302, headers={"Location": location})


async def redirect(request: Request) -> Response:
    absolute = query(request, "absolute").lower() == "true"
    return next_hop(request, redirect_count(request) - 1, absolute=absolute)


async def relative_redirect(request: Request) -> Response:
    return next_hop(request, redirect_count(request) - 1, absolute=False)


async def absolute_redirect(request: Request) -> Response:
    return next_hop(request, redirect_count(request) - 1, absolute=True)


def checked_target(url: str, allowed_hosts: list[str]) -> str:
    """``url`` when it may be sent as a Location, else :class:`ParamError` naming the rule it breaks."""
    if url == "":
        raise ParamError("missing required query parameter: url")
    if not _PRINTABLE.fullmatch(url) or "\\" in url:
        raise ParamError("invalid url: only printable ASCII without spaces or backslashes")
    parts = urlsplit(url)
    if parts.scheme == "" and parts.netloc == "" and not url.startswith("//"):
        return url  # relative: stays on this host (browsers read "///host" as a host, so that is not relative)
    allowed = {h.lower() for h in allowed_hosts}
    if parts.scheme.lower() not in ("http", "https", "") or (parts.hostname or "") not in allowed:
        raise ParamError(
            "redirect target not allowed: only relative URLs, or http(s) URLs to a host listed in lab.redirect_hosts"
        )
    return url


@needs_deps
async def redirect_to(request: Request, *, deps: EndpointDeps) -> Response:
    url = checked_target(query(request, "url"), deps.settings.lab.redirect_hosts)
    status = 302
    if (raw := query(request, "status_code")) != "":
        code = parse_int(raw)
        if code not in REDIRECT_CODES:
            raise ParamError("invalid status code: must be one of " + ", ".join(map(str, sorted(REDIRECT_CODES))))
        status = code
    return Response(status_code=status, headers={"Location": url})
