"""Building blocks of the httpbin route table: shared parameters, replies, schemas and route builders."""

from __future__ import annotations

from typing import Any

from apitest.endpoints import httpbin_auth as auth
from apitest.endpoints import httpbin_content as content
from apitest.endpoints import httpbin_redirects as redirects
from apitest.endpoints.httpbin_support import GROUP, MAX_BODY, MAX_DURATION, SUMMARY_PROPS
from apitest.registry import (
    BOOL,
    ERROR_SCHEMA,
    JSON,
    STR,
    STR_LIST_MAP,
    Handler,
    Param,
    Reply,
    RouteSpec,
    bad_request,
    obj,
    ok,
)

BINARY = "application/octet-stream"
ANY_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DURATION_HELP = f"A Go duration (1.5s, 300ms) or seconds (1.5), at most {MAX_DURATION:g}s."

AUTH_SCHEMA = obj({"authenticated": BOOL, "authorized": BOOL, "user": STR})
ANYTHING_SCHEMA = obj(
    {
        "args": STR_LIST_MAP,
        "data": STR,
        "files": {"type": "object"},
        "form": STR_LIST_MAP,
        "headers": STR_LIST_MAP,
        "json": {"description": "The body parsed as JSON when Content-Type is application/json, else null."},
        "method": STR,
        "origin": STR,
        "url": STR,
    }
)
NOT_MODIFIED = Reply("Not modified: no body.", None, None, ("ETag",))
PRECONDITION = Reply("If-Match does not match the ETag.", JSON, ERROR_SCHEMA, ("ETag",))
REDIRECT = Reply("Found: follow Location (no body).", None, None, ("Location",))
SET_COOKIE = Reply(
    "Found: Set-Cookie for each cookie, Location /v1/cookies (no body).", None, None, ("Set-Cookie", "Location")
)
COOKIE_OPTIONS = (
    Param("path", description="Cookie Path: /v1 (default) or a path under /v1/."),
    Param("domain", description="Cookie Domain: only the request's own host."),
)


def header(name: str, description: str) -> Param:
    return Param(name, location="header", description=description)


def path(
    name: str, description: str, kind: str = "string", minimum: int | None = None, maximum: int | None = None
) -> Param:
    return Param(name, kind, required=True, location="path", description=description, minimum=minimum, maximum=maximum)


def route(name: str, url: str, description: str, handler: Handler, method: str = "GET", **extra: Any) -> RouteSpec:
    return RouteSpec(name, method, "/v1" + url, GROUP, description, handler, **extra)


def compressed(coding: str, flag: str) -> dict[int, Reply]:
    schema = obj(SUMMARY_PROPS | {flag: BOOL})
    return {
        200: ok(
            schema,
            f"The request summary, {coding}-encoded whatever Accept-Encoding says.",
            headers=("Content-Encoding",),
        )
    }


NUMBYTES = path("numbytes", f"Body length in bytes, at most {MAX_BODY}.", "integer", 0, MAX_BODY)
SEED = Param("seed", description="Seed of the bytes (FNV-1a + PCG-DXSM); empty: OS-random.")
CHUNK = Param(
    "chunk_size", "integer", description="Bytes per flushed write.", default=10240, minimum=1, maximum=MAX_BODY
)
USER = path("user", "Expected user name.")
PASSWD = path("passwd", "Expected password.")
QOP = path("qop", "Quality of protection: auth (the only one supported).")
STALE = Param(
    "stale_after",
    "integer",
    description="Seconds a nonce stays fresh.",
    default=auth.STALE_DEFAULT,
    minimum=0,
    maximum=auth.STALE_MAX,
)
DIGEST_REPLIES = {
    200: ok(AUTH_SCHEMA, "Authenticated."),
    400: bad_request("qop is not auth, algorithm not MD5 or SHA-256, or stale_after invalid."),
    401: Reply(
        "No, wrong or stale Digest credentials: a fresh challenge (stale=true when only the nonce expired).",
        JSON,
        ERROR_SCHEMA,
        ("WWW-Authenticate",),
    ),
}


def digest_route(name: str, url: str, extra: tuple[Param, ...]) -> RouteSpec:
    return route(
        name,
        url,
        "HTTP Digest authentication (RFC 7616, qop=auth) against the user and password in the path.",
        auth.digest_auth,
        params=(QOP, USER, PASSWD, *extra, STALE),
        responses=DIGEST_REPLIES,
        own_authorization=True,
    )


def redirect_to_route(method: str) -> RouteSpec:
    return route(
        f"httpbin_redirect_to_{method.lower()}",
        "/redirect-to",
        "Redirect to url: a relative URL, or an http(s) URL whose host is in lab.redirect_hosts (else 400).",
        redirects.redirect_to,
        method,
        params=(
            Param("url", required=True, description="Target: relative, or on a host listed in lab.redirect_hosts."),
            Param(
                "status_code",
                "integer",
                description="Redirect status: 300, 301, 302, 303, 305, 307 or 308.",
                default=302,
                minimum=300,
                maximum=308,
            ),
        ),
        responses={
            **{
                code: Reply(f"{code} to url, as status_code asks for.", None, None, ("Location",))
                for code in sorted(redirects.REDIRECT_CODES)
            },
            400: bad_request("url missing, not printable ASCII, or not allowed; status_code not a redirect status."),
        },
    )


UNROUTABLE = Reply("A path the router cannot take (e.g. with a newline): no such endpoint.", JSON, ERROR_SCHEMA)


def anything_route(method: str, url: str) -> RouteSpec:
    suffix = "_path" if "{" in url else ""
    return route(
        f"httpbin_anything{suffix}_{method.lower()}",
        url,
        "Echo the request in go-httpbin's shape: args, data, form, headers (credentials redacted), json, origin, url.",
        content.anything,
        method,
        params=(Param("path", location="path", required=True, description="Any path, slashes included."),)
        if suffix
        else (),
        responses={
            200: ok(ANYTHING_SCHEMA),
            **({404: UNROUTABLE} if suffix else {}),
        },
        request_body=None if method in ("GET", "OPTIONS") else {"required": False, "content": {"*/*": {"schema": {}}}},
    )
