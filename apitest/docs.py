"""``/openapi.json``, ``/openapi.yaml`` and the ``/docs`` API reference page.

The page is Swagger UI, vendored under ``apitest/static/docs/`` (see ``VENDORED.md`` there) and
served by this module, so ``/docs`` works with no internet access. The HTML has no inline script, so
it is served under a strict Content-Security-Policy. None of these routes is authenticated or audited.
"""

from __future__ import annotations

import functools
import hashlib
import html
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from apitest.config import Settings
from apitest.openapi import OpenAPIDocument

NO_STORE = "no-store"
ASSET_CACHE = "public, max-age=3600"
ASSET_PREFIX = "docs/assets/"  # relative to the page, so a gateway path prefix is kept

ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-bundle.js.LICENSE.txt": "text/plain; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "docs-init.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "oauth2-redirect.html": "text/html; charset=utf-8",
    "oauth2-redirect.js": "text/javascript; charset=utf-8",
    "LICENSE": "text/plain; charset=utf-8",
}

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — API reference</title>
<link rel="icon" type="image/png" href="{assets}favicon-32x32.png">
<link rel="stylesheet" href="{assets}swagger-ui.css">
</head>
<body>
<noscript><p>This page needs JavaScript. The OpenAPI document itself is at
<a href="openapi.json">openapi.json</a> and <a href="openapi.yaml">openapi.yaml</a>.</p></noscript>
<div id="swagger-ui" data-openapi-url="openapi.json" data-oauth2-redirect-url="{assets}oauth2-redirect.html"></div>
<script src="{assets}swagger-ui-bundle.js"></script>
<script src="{assets}docs-init.js"></script>
</body>
</html>
"""


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@functools.cache
def load_asset(name: str) -> Asset | None:
    """A vendored or own file of ``apitest/static/docs``, read once per process."""
    content_type = ASSET_TYPES.get(name)
    if content_type is None:
        return None
    body = resources.files("apitest").joinpath("static", "docs", name).read_bytes()
    return Asset(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy(settings: Settings) -> str:
    """The page's CSP: own scripts and styles only (Swagger UI sets styles through the CSSOM, which CSP
    allows); its stylesheet uses data: images and shows blob: images of responses. Try-It calls the
    configured base URL, and the OIDC scheme reads the issuer's discovery document."""
    connect = ["'self'"] + sorted(
        {o for o in (origin(settings.server.base_url), origin(settings.oidc.issuer) if settings.oidc.enabled else "")}
        - {""}
    )
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "connect-src " + " ".join(connect),
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class DocsSite:
    """The document's two renderings, the reference page and its assets, fixed at app creation."""

    def __init__(self, settings: Settings, document: OpenAPIDocument) -> None:
        self.document = document
        self.page = PAGE.format(title=html.escape(settings.server.name), assets=ASSET_PREFIX).encode()
        self.csp = content_security_policy(settings)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/openapi.json", self.openapi_json, methods=["GET"]),
            Route("/openapi.yaml", self.openapi_yaml, methods=["GET"]),
            Route("/docs", self.reference, methods=["GET"]),
            Route("/docs/assets/{name}", self.asset, methods=["GET"]),
        ]

    async def openapi_json(self, request: Request) -> Response:
        return Response(self.document.json, media_type="application/json", headers={"Cache-Control": NO_STORE})

    async def openapi_yaml(self, request: Request) -> Response:
        return Response(self.document.yaml, media_type="application/yaml", headers={"Cache-Control": NO_STORE})

    async def reference(self, request: Request) -> Response:
        headers = {
            "Cache-Control": NO_STORE,
            "Content-Security-Policy": self.csp,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
        return Response(self.page, media_type="text/html; charset=utf-8", headers=headers)

    async def asset(self, request: Request) -> Response:
        found = load_asset(request.path_params["name"])
        if found is None:
            raise HTTPException(404)
        headers = {"Cache-Control": ASSET_CACHE, "ETag": found.etag, "X-Content-Type-Options": "nosniff"}
        if found.content_type.startswith("text/html"):
            headers["Content-Security-Policy"] = self.csp
        if found.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(found.body, media_type=found.content_type, headers=headers)
