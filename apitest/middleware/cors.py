"""CORS, as :class:`apitest.middleware.edge.Edge` applies it: real preflights (OPTIONS + Origin +
Access-Control-Request-Method) are answered with 204; every other request, OPTIONS included, reaches the router
and gets the CORS headers on its response.

The portal, its JSON API and the admin API are same-origin only: requests to them pass through untouched,
preflights included, so no other site can read them (:data:`~apitest.middleware.isolation.SAME_ORIGIN_PREFIXES`)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import Send

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-API-Key, X-CSRF-Token, X-Request-Id"
EXPOSE_HEADERS = (
    "X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, "
    "RateLimit-Policy, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Idempotent-Replayed, "
    "Apitest-Worker, Apitest-Event-Id"
)
MAX_AGE = "600"


CORS_HEADERS = {
    b"access-control-allow-methods": ALLOW_METHODS.encode(),
    b"access-control-allow-headers": ALLOW_HEADERS.encode(),
    b"access-control-expose-headers": EXPOSE_HEADERS.encode(),
    b"access-control-max-age": MAX_AGE.encode(),
}


class CorsPolicy:
    """``server.cors.allowed_origins`` as the edge applies it (:class:`apitest.middleware.edge.Edge`)."""

    def __init__(self, allowed_origins: list[str]) -> None:
        self.any_origin = "*" in allowed_origins
        self.origins = set(allowed_origins)
        # With any origin allowed every response gets the same five headers: built once, appended raw.
        self.any_origin_headers = [(b"access-control-allow-origin", b"*"), *CORS_HEADERS.items()]

    def _allow_origin(self, origin: str | None) -> str | None:
        if self.any_origin:
            return "*"
        if origin and origin in self.origins:
            return origin
        return None

    def apply(self, headers: MutableHeaders, origin: str | None) -> None:
        """The CORS headers for a request from ``origin`` (with ``Vary: Origin`` unless any origin is allowed)."""
        allowed = self._allow_origin(origin)
        if not self.any_origin:
            headers.add_vary_header("Origin")
        if allowed is None:
            return
        headers["Access-Control-Allow-Origin"] = allowed
        headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        headers["Access-Control-Max-Age"] = MAX_AGE

    async def preflight(self, send: Send, origin: str) -> None:
        """Answer a preflight with 204 (the edge's ``send`` adds the CORS headers to it)."""
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
