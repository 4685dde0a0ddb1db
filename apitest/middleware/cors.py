"""CORS: real preflights (OPTIONS + Origin + Access-Control-Request-Method) are answered here with 204;
every other request, OPTIONS included, reaches the router and gets the CORS headers on its response.

The portal, its JSON API and the admin API are same-origin only: requests to them pass through untouched,
preflights included, so no other site can read them (:data:`~apitest.middleware.isolation.SAME_ORIGIN_PREFIXES`)."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apitest.middleware.isolation import SAME_ORIGIN_PREFIXES, is_same_origin_path

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


class CORSMiddleware:
    def __init__(self, app: ASGIApp, *, allowed_origins: list[str]) -> None:
        self.app = app
        self.any_origin = "*" in allowed_origins
        self.origins = set(allowed_origins)
        # With any origin allowed every response gets the same five headers: built once, appended raw.
        self._any_origin_headers = [(b"access-control-allow-origin", b"*"), *CORS_HEADERS.items()]
        self._any_origin_names = {name for name, _ in self._any_origin_headers}

    def _allow_origin(self, origin: str | None) -> str | None:
        if self.any_origin:
            return "*"
        if origin and origin in self.origins:
            return origin
        return None

    def _apply(self, headers: MutableHeaders, origin: str | None) -> None:
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            scope["path"].startswith(SAME_ORIGIN_PREFIXES) and is_same_origin_path(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS" and origin is not None and "access-control-request-method" in headers:
            scope.setdefault("state", {})["cors_preflight"] = True
            out = MutableHeaders()
            self._apply(out, origin)
            await send({"type": "http.response.start", "status": 204, "headers": out.raw})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                if self.any_origin:
                    names = self._any_origin_names
                    headers = [h for h in message.get("headers", ()) if h[0].lower() not in names]
                    message["headers"] = headers + self._any_origin_headers
                else:
                    self._apply(MutableHeaders(scope=message), origin)
            await send(message)

        await self.app(scope, receive, send_with_cors)
