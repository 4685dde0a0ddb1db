"""Identity group: who the fixture thinks the caller is, and which headers arrived."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from apitest.auth.identity import identity_of
from apitest.endpoints.helpers import header_map, json_response, sensitive_of
from apitest.registry import INT, STR, STR_LIST_MAP, RouteSpec, obj, ok
from apitest.tls import CLIENT_CERT_KEY


async def whoami(request: Request) -> Response:
    body = identity_of(request).whoami()
    certificate = request.scope.get("state", {}).get(CLIENT_CERT_KEY)
    if isinstance(certificate, dict):
        body["client_certificate"] = certificate  # mutual TLS (docs/tls.md)
    return json_response(body)


async def headers(request: Request) -> Response:
    found = header_map(request, sensitive_of(request))
    return json_response({"headers": found, "count": len(found)})


WHOAMI_SCHEMA = obj(
    {
        "subject": STR,
        "email": STR,
        "auth_type": {"type": "string", "enum": ["anonymous", "apikey", "bearer", "oidc"]},
        "key_name": STR,
        "scopes": {"type": "array", "items": STR},
        "claims": {"type": "object"},
        "client_certificate": obj(
            {
                "subject": STR,
                "san": {"type": "array", "items": STR},
                "issuer": STR,
                "serial": STR,
                "sha256": STR,
                "not_before": STR,
                "not_after": STR,
            },
            required=["subject", "san", "issuer", "serial", "sha256"],
        ),
    },
    required=["subject", "auth_type"],
)

ROUTES = [
    RouteSpec(
        "whoami",
        "GET",
        "/v1/whoami",
        "identity",
        "The identity the fixture resolved for this request.",
        whoami,
        responses={200: ok(WHOAMI_SCHEMA)},
    ),
    RouteSpec(
        "headers",
        "GET",
        "/v1/headers",
        "identity",
        "Request headers as received (credentials redacted).",
        headers,
        responses={200: ok(obj({"headers": STR_LIST_MAP, "count": INT}))},
    ),
]
