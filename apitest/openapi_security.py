"""How the OpenAPI document expresses the configured inbound auth.

Security schemes follow the configuration: ``apiKey`` (header) and ``apiKeyQuery`` (query parameter)
when file or database keys exist, ``bearer`` when static tokens or OIDC are on, ``oidc``
(openIdConnect discovery) when OIDC is on. Each operation lists the schemes as alternatives, plus the
empty requirement ``{}`` when anonymous access is allowed and the route needs no scope.

References: OpenAPI 3.1.0 §4.8.27 (Security Scheme Object) and §4.8.30 (Security Requirement Object);
RFC 6750 §3 (WWW-Authenticate, insufficient_scope); RFC 9728 (resource_metadata).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apitest.config import Settings
from apitest.registry import RouteSpec

ERROR_REF = {"$ref": "#/components/schemas/Error"}

INSUFFICIENT_SCOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "required_scope"],
    "properties": {"error": {"type": "string", "const": "insufficient_scope"}, "required_scope": {"type": "string"}},
}

RATE_LIMITED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "retry_after"],
    "properties": {"error": {"type": "string", "const": "rate_limited"}, "retry_after": {"type": "integer"}},
}

# name -> (description, JSON type); draft-ietf-httpapi-ratelimit-headers plus the common X- variants.
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": ("Requests allowed per window for this caller.", "integer"),
    "RateLimit-Remaining": ("Requests left in the current window.", "integer"),
    "RateLimit-Reset": ("Seconds until the window ends.", "integer"),
    "RateLimit-Policy": ("`<limit>;w=<window seconds>`.", "string"),
    "X-RateLimit-Limit": ("Same as RateLimit-Limit.", "integer"),
    "X-RateLimit-Remaining": ("Same as RateLimit-Remaining.", "integer"),
    "X-RateLimit-Reset": ("Unix time (seconds) when the window ends.", "integer"),
}


@dataclass
class AuthModel:
    """The auth facts the document needs, derived once from the settings."""

    schemes: dict[str, dict[str, Any]] = field(default_factory=dict)
    anonymous: bool = False
    challenge: str = 'Bearer realm="api-test"'

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthModel:
        keys = settings.api_keys
        oidc = settings.oidc
        schemes: dict[str, dict[str, Any]] = {}
        if keys.file or keys.db.enabled:
            schemes["apiKey"] = {
                "type": "apiKey",
                "in": "header",
                "name": keys.header_name,
                "description": f"API key in the {keys.header_name} header (wins over the query parameter).",
            }
            schemes["apiKeyQuery"] = {
                "type": "apiKey",
                "in": "query",
                "name": keys.query_param_name,
                "description": f"API key in the {keys.query_param_name} query parameter.",
            }
        if settings.bearer.tokens or oidc.enabled:
            bearer: dict[str, Any] = {"type": "http", "scheme": "bearer"}
            if oidc.enabled:
                bearer["bearerFormat"] = "JWT"
            bearer["description"] = bearer_description(settings)
            schemes["bearer"] = bearer
        if oidc.enabled:
            schemes["oidc"] = {
                "type": "openIdConnect",
                "openIdConnectUrl": oidc.issuer.rstrip("/") + "/.well-known/openid-configuration",
                "description": f"OIDC access tokens issued by {oidc.issuer}, sent as a bearer token.",
            }
        resource = settings.server.base_url.rstrip("/") + "/.well-known/oauth-protected-resource"
        return cls(
            schemes=schemes,
            anonymous=settings.auth.allow_anonymous,
            challenge=f'Bearer realm="api-test", resource_metadata="{resource}"',
        )

    def requirements(self, route: RouteSpec) -> list[dict[str, list[str]]]:
        """The operation's ``security``: any one scheme (with the route's scope), or none when anonymous."""
        scopes = [route.scope] if route.scope else []
        out: list[dict[str, list[str]]] = [{name: list(scopes)} for name in self.schemes]
        if (self.anonymous or route.credential_optional) and not scoped(route):
            out.append({})
        return out or [{}]  # anonymous-only: no credential exists to present (a scoped route then answers 401)

    def schemas(self, base: dict[str, Any]) -> dict[str, Any]:
        return base | {"InsufficientScope": INSUFFICIENT_SCOPE_SCHEMA, "RateLimited": RATE_LIMITED_SCHEMA}


def bearer_description(settings: Settings) -> str:
    kinds = []
    if settings.bearer.tokens:
        kinds.append("a static bearer token")
    if settings.oidc.enabled:
        kinds.append(f"an OIDC JWT access token from {settings.oidc.issuer}")
    return "Authorization: Bearer with " + " or ".join(kinds) + "."


def scoped(route: RouteSpec) -> bool:
    return route.scope is not None or route.scope_param is not None


def auth_responses(route: RouteSpec, auth: AuthModel) -> dict[int, dict[str, Any]]:
    """The 401 and 403 answers the auth stage can give on ``route``.

    An anonymous caller holds no scope, so a scoped route answers it 401 ``missing credential`` even when
    anonymous access is on; 403 needs a valid credential, so it exists only when some scheme does.
    """
    out: dict[int, dict[str, Any]] = {}
    missing = not (auth.anonymous or route.credential_optional) or scoped(route)
    invalid = bool(auth.schemes)
    if missing or invalid:
        reasons = ["no credential was presented (`missing credential`)"] if missing else []
        reasons += ["the credential is invalid (`invalid credential`)"] if invalid else []
        challenge = f"`{auth.challenge}`" + ('; with `scope="<scope>"` added on this route' if scoped(route) else "")
        if invalid:
            challenge += '; for an invalid credential also `error="invalid_token", error_description="<why>"`'
        out[401] = {
            "description": "Rejected by inbound auth: " + " or ".join(reasons) + ".",
            "headers": {
                "WWW-Authenticate": {"description": challenge + " (RFC 6750, RFC 9728).", "schema": {"type": "string"}}
            },
            "content": {"application/json": {"schema": ERROR_REF}},
        }
    if scoped(route) and auth.schemes:
        needed = f"`{route.scope}`" if route.scope else f"named by the `{route.scope_param}` path parameter"
        out[403] = {
            "description": f"The credential is valid but lacks the required scope ({needed}).",
            "headers": {
                "WWW-Authenticate": {
                    "description": 'Bearer realm="api-test", error="insufficient_scope", scope="<scope>" (RFC 6750).',
                    "schema": {"type": "string"},
                }
            },
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InsufficientScope"}}},
        }
    return out


def rate_limit_headers() -> dict[str, Any]:
    return {name: {"description": text, "schema": {"type": kind}} for name, (text, kind) in RATE_LIMIT_HEADERS.items()}


def rate_limit_response() -> dict[str, Any]:
    return {
        "description": "The caller exceeded the group's rate limit.",
        "headers": {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
        | rate_limit_headers(),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RateLimited"}}},
    }
