"""Security probes: inert targets a gateway policy should block or sanitise. Nothing here fetches,
redirects or executes anything; each answer only says what was asked for."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.helpers import query
from apitest.http import ParamError, json_response
from apitest.registry import BOOL, INT, STR, Param, RouteSpec, bad_request, obj, ok

ADMIN_MESSAGE = (  # fixed, word for word: gateway tests compare it
    "This endpoint exists to be a probe target. A correctly-configured gateway should have refused to forward "
    "this request before it reached api-test."
)
BIG_HEADER_COUNT = 64
BIG_HEADER_SIZE = 512
BIG_HEADERS = {f"X-Big-Probe-{i}": "A" * BIG_HEADER_SIZE for i in range(BIG_HEADER_COUNT)}
BIG_HEADER_BYTES = sum(len(name) + len(value) + 4 for name, value in BIG_HEADERS.items())  # "Name: value\r\n"

# HTTP forbids control characters in header values; CR/LF would split the header (response splitting).
_HEADER_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


async def admin_secret(request: Request) -> Response:
    return json_response({"message": ADMIN_MESSAGE})


async def fetch(request: Request) -> Response:
    url = query(request, "url")
    if url == "":
        raise ParamError("url must be provided (this endpoint is a probe; it does not actually fetch)")
    return json_response({"asked_for": url, "would_have_fetched": False})


async def big_headers(request: Request) -> Response:
    return json_response(
        {"header_count": BIG_HEADER_COUNT, "header_bytes": BIG_HEADER_BYTES},
        headers=BIG_HEADERS,
    )


def header_safe(value: str) -> bytes:
    """CR, LF and the other control characters (tab aside) become spaces; the ends are trimmed."""
    return _HEADER_UNSAFE.sub(" ", value).strip(" \t").encode()


async def redirect_to(request: Request) -> Response:
    url = query(request, "url")
    if url == "":
        raise ParamError("url must be provided")
    response = json_response({"would_redirect_to": url})
    response.raw_headers.append((b"x-would-redirect-to", header_safe(url)))
    return response


def raw_query_value(request: Request, name: str) -> bytes:
    """The first value of ``name`` as the bytes the client percent-encoded (``b""`` when absent)."""
    pairs: list[tuple[str, str]] = parse_qsl(
        request.scope["query_string"].decode("latin-1"), keep_blank_values=True, encoding="latin-1"
    )
    for key, value in pairs:
        if key == name:
            return value.encode("latin-1")
    return b""


async def control_chars(request: Request) -> Response:
    raw = raw_query_value(request, "q")
    has_control = any(b < 0x20 or b == 0x7F for b in raw)
    return json_response({"q": raw.decode("utf-8", "replace"), "byte_count": len(raw), "has_control": has_control})


URL_PARAM = Param("url", required=True, description="Any URL; it is reported, never used.")

ROUTES = [
    RouteSpec(
        "security_admin",
        "GET",
        "/v1/security/admin/secret",
        "security",
        "An admin-looking path a gateway policy should block; answers with a fixed message.",
        admin_secret,
        responses={200: ok(obj({"message": STR}))},
    ),
    RouteSpec(
        "security_fetch",
        "GET",
        "/v1/security/fetch",
        "security",
        "SSRF probe: reports the URL it was asked to fetch, and never fetches it.",
        fetch,
        params=(URL_PARAM,),
        responses={
            200: ok(obj({"asked_for": STR, "would_have_fetched": {"type": "boolean", "const": False}})),
            400: bad_request("url missing or empty."),
        },
    ),
    RouteSpec(
        "security_big_headers",
        "GET",
        "/v1/security/big-headers",
        "security",
        "Answers with 64 response headers X-Big-Probe-0..63 of 512 bytes each (about 33 KiB of headers).",
        big_headers,
        responses={200: ok(obj({"header_count": INT, "header_bytes": INT}), headers=tuple(BIG_HEADERS))},
    ),
    RouteSpec(
        "security_redirect_to",
        "POST",
        "/v1/security/redirect-to",
        "security",
        "Open-redirect probe: reports the target in X-Would-Redirect-To; never redirects, never sets Location.",
        redirect_to,
        params=(URL_PARAM,),
        responses={
            200: ok(obj({"would_redirect_to": STR}), headers=("X-Would-Redirect-To",)),
            400: bad_request("url missing or empty."),
        },
    ),
    RouteSpec(
        "security_control_chars",
        "GET",
        "/v1/security/control-chars",
        "security",
        "Reports q as received: its UTF-8 byte count and whether it holds control characters.",
        control_chars,
        params=(Param("q", description="Any text; percent-encode control characters (%00, %0A, %7F)."),),
        responses={200: ok(obj({"q": STR, "byte_count": INT, "has_control": BOOL}))},
    ),
]
