"""CORS, as :class:`apitest.middleware.edge.Edge` applies it: real preflights (OPTIONS + Origin +
Access-Control-Request-Method) are answered with 204; every other request, OPTIONS included, reaches the router
and gets the CORS headers on its response.

The portal, its JSON API and the admin API are same-origin only: requests to them pass through untouched,
preflights included, so no other site can read them (:data:`~apitest.middleware.isolation.SAME_ORIGIN_PREFIXES`)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-API-Key, X-CSRF-Token, X-Request-Id"
EXPOSE_HEADERS = (
    "X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, "
    "RateLimit-Policy, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Idempotent-Replayed, "
    "Apitest-Worker, Apitest-Event-Id"
)
MAX_AGE = "600"


# What a preflight answer carries beside Access-Control-Allow-Origin (Fetch §3.2.3): which methods and request
# headers the actual request may use, and for how long the answer may be cached.
PREFLIGHT_HEADERS = {
    b"access-control-allow-methods": ALLOW_METHODS.encode(),
    b"access-control-allow-headers": ALLOW_HEADERS.encode(),
    b"access-control-max-age": MAX_AGE.encode(),
}
# What every other response carries beside it: the response headers a page's script may read.
RESPONSE_HEADERS = {b"access-control-expose-headers": EXPOSE_HEADERS.encode()}
# Every name this policy writes (a handler's own value for one of them is replaced).
CORS_NAMES = frozenset({b"access-control-allow-origin", *PREFLIGHT_HEADERS, *RESPONSE_HEADERS})


class CorsPolicy:
    """``server.cors.allowed_origins`` as the edge applies it (:class:`apitest.middleware.edge.Edge`)."""

    def __init__(self, allowed_origins: list[str]) -> None:
        self.any_origin = "*" in allowed_origins
        self.origins = set(allowed_origins)
        # With any origin allowed every response gets the same two headers: built once, appended raw. They are
        # sent whether or not the request has an Origin, so a cache in front never keeps a copy without them.
        self.any_origin_headers = [(b"access-control-allow-origin", b"*"), *RESPONSE_HEADERS.items()]
        self.any_origin_preflight = [(b"access-control-allow-origin", b"*"), *PREFLIGHT_HEADERS.items()]

    def _allow_origin(self, origin: str | None) -> str | None:
        if self.any_origin:
            return "*"
        if origin and origin in self.origins:
            return origin
        return None

    def apply(self, headers: MutableHeaders, origin: str | None, *, preflight: bool = False) -> None:
        """The CORS headers for a request from ``origin`` (with ``Vary: Origin`` unless any origin is allowed):
        on a preflight answer the methods, request headers and max age; on any other response the exposed
        response headers."""
        allowed = self._allow_origin(origin)
        if not self.any_origin:
            headers.add_vary_header("Origin")
        if allowed is None:
            return
        headers["Access-Control-Allow-Origin"] = allowed
        extra = PREFLIGHT_HEADERS if preflight else RESPONSE_HEADERS
        for name, value in extra.items():
            headers[name.decode()] = value.decode()

    def preflight_headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        """The headers of the 204 answering a preflight from ``origin``."""
        if self.any_origin:
            return list(self.any_origin_preflight)
        out = MutableHeaders()
        self.apply(out, origin, preflight=True)
        return out.raw
