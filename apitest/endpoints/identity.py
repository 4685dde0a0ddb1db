"""Identity group: who the fixture thinks the caller is, and which headers arrived."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from apitest.endpoints.deps import EndpointDeps, needs_deps
from apitest.endpoints.echo import HEADER_LIST
from apitest.endpoints.helpers import header_map
from apitest.http import json_response
from apitest.outcome import identity_of, outcome_of
from apitest.registry import INT, STR, STR_LIST_MAP, RouteSpec, obj, ok
from apitest.tls import CLIENT_CERT_KEY
from apitest.wirehead import head_fields

CREDENTIALS_KEY = "credentials"  # the auth stage's evidence list (apitest.auth.evidence.CREDENTIALS_KEY)


async def whoami(request: Request) -> Response:
    body = identity_of(request).whoami()
    certificate = request.scope.get("state", {}).get(CLIENT_CERT_KEY)
    if isinstance(certificate, dict):
        body["client_certificate"] = certificate  # mutual TLS (docs/tls.md)
    body["credentials"] = outcome_of(request.scope).credentials or []
    return json_response(body)


@needs_deps
async def headers(request: Request, *, deps: EndpointDeps) -> Response:
    sensitive = deps.sensitive
    found = header_map(request, sensitive)
    head = head_fields(request.scope, sensitive.name, sensitive.value)
    return json_response({"headers": found, "count": len(found), **head})


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
        "credentials": {
            "type": "array",
            "description": "Every credential presented, fingerprinted (never the value); `used` marks the winner.",
            "items": obj(
                {
                    "kind": {"type": "string", "enum": ["api_key", "bearer", "jwt"]},
                    "source": {"type": "string", "enum": ["header", "query"]},
                    "name": STR,
                    "valid": {"type": ["boolean", "null"]},
                    "used": {"type": "boolean"},
                    "fingerprint": STR,
                    "iss": STR,
                    "kid": STR,
                    "sub": STR,
                    "aud": {"type": "array", "items": STR},
                    "azp": STR,
                },
                required=["kind", "source", "name", "valid", "used", "fingerprint"],
            ),
        },
    },
    required=["subject", "auth_type", "credentials"],
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
        responses={
            200: ok(
                obj(
                    {
                        "headers": STR_LIST_MAP,
                        "count": INT,
                        "raw_target": STR,
                        "http_version": STR,
                        "host": {"type": ["string", "null"]},
                        "header_list": HEADER_LIST,
                    }
                )
            )
        },
    ),
]
