"""The portal behind a path prefix: a gateway publishes the fixture as ``https://gw/api/`` and strips ``/api``
before forwarding, so every URL the portal hands to a browser must carry the prefix again.

The prefix is the one :func:`apitest.forwarded.public_origin` finds (the path of a configured
``server.base_url``, or ``X-Forwarded-Prefix`` from a trusted proxy). For every path outside ``/v1`` this
middleware

- leaves the prefix in ``scope[PREFIX_KEY]``, which the portal's ``url_for`` puts in front of every link,
  form action and asset it renders;
- rewrites what the responses say about paths: a ``Location`` that is an absolute path (``/portal/login?...``)
  and a ``Set-Cookie`` ``Path`` attribute get the prefix in front (unless they already start with it).

Routing is unchanged: the app still sees and matches the unprefixed paths it serves. ``/v1`` responses are
never rewritten (a fixture answers what it was asked to; pagination and redirects there build their own
absolute URLs). Without a configured prefix this middleware is not installed at all.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apitest.config import Settings
from apitest.forwarded import public_origin

PREFIX_KEY = "apitest.prefix"
_COOKIE_PATH = re.compile(rb"(;\s*path=)(/[^;]*)", re.IGNORECASE)


def may_have_prefix(settings: Settings) -> bool:
    """Whether any request can have a prefix: a configured base_url with a path, or trusted proxies."""
    explicit = settings.meta.sources.get("server.base_url", "default") != "default"
    path = settings.server.base_url.split("://", 1)[-1].partition("/")[2].strip("/")
    return bool((explicit and path) or settings.server.trusted_proxies)


def prefixed(prefix: bytes, path: bytes) -> bytes:
    if not path.startswith(b"/") or path.startswith(b"//") or path == prefix or path.startswith(prefix + b"/"):
        return path
    return prefix + path


class PrefixMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/v1/") or scope["path"] == "/v1":
            await self.app(scope, receive, send)
            return
        prefix = public_origin(scope, self.settings).prefix
        if not prefix:
            await self.app(scope, receive, send)
            return
        scope[PREFIX_KEY] = prefix
        raw = prefix.encode("latin-1")

        def rewrite(name: bytes, value: bytes) -> bytes:
            lowered = name.lower()
            if lowered == b"location":
                return prefixed(raw, value)
            if lowered == b"set-cookie":
                return _COOKIE_PATH.sub(lambda m: m.group(1) + prefixed(raw, m.group(2)), value)
            return value

        async def send_prefixed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [(n, rewrite(n, v)) for n, v in message.get("headers", ())]
            await send(message)

        await self.app(scope, receive, send_prefixed)
