"""Keep what the fixture serves from acting on the portal, and the portal from answering other sites (the
rules; :class:`apitest.middleware.edge.Edge` applies them to every request).

The fixture serves caller-chosen content (``/v1/respond?content_type=text/html&body=<script>…``,
echoes, the lab) on the portal's origin. Two layers keep it inert:

- every response outside the portal and ``/docs`` (``/v1``, health, OpenAPI, the admin and portal JSON
  APIs, 404s, 405s, 500s, 413s, CORS preflights, streams) carries ``Content-Security-Policy: sandbox;
  default-src 'none'`` and ``X-Content-Type-Options: nosniff``. A browser opening such a response runs
  no script, loads nothing, and gives the document an opaque origin, so it cannot read a portal page or
  send the session cookie with a same-origin fetch. The headers are appended as pre-encoded bytes to the
  start message; a caller-set ``X-Content-Type-Options`` is replaced (the first value is the one that
  counts), a caller-set CSP is left, as CSP policies only add restrictions;
- the portal (``/portal``), its JSON API (``/api/v1/portal``) and the admin API (``/api/v1/admin``,
  every route under it, present and future) answer only requests whose ``Host`` is on
  ``portal.allowed_hosts``; any other ``Host`` is a 421 (Misdirected Request), which stops a DNS
  rebinding page from reaching them under its own name. ``/v1`` accepts any ``Host``: gateways send
  their own. CORS never applies to these paths (:mod:`apitest.middleware.cors`).

References: CSP Level 3 §6.3.2 (sandbox), HTML §7.1.2 (opaque origins of sandboxed documents), Fetch
§3.5.5 (X-Content-Type-Options), RFC 9110 §15.5.20 (421).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Scope, Send

from apitest.http import json_bytes

SANDBOX_CSP = b"sandbox; default-src 'none'; frame-ancestors 'none'"
FIXTURE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", SANDBOX_CSP),
    (b"x-content-type-options", b"nosniff"),
]
# Same-origin only, Host-checked: the portal pages, the portal JSON API and every admin route.
SAME_ORIGIN_PREFIXES = ("/portal", "/api/v1/portal", "/api/v1/admin")
# Served under their own Content-Security-Policy (a sandbox would stop Swagger UI and the portal scripts).
OWN_POLICY_PREFIXES = ("/portal", "/docs")


def under(path: str, prefixes: Iterable[str]) -> bool:
    """``path`` is one of ``prefixes`` or below it (``/portal`` and ``/portal/x``, never ``/portalx``)."""
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def is_same_origin_path(path: str) -> bool:
    return under(path, SAME_ORIGIN_PREFIXES)


def misdirected(scope: Scope, host: str) -> tuple[bytes, bytes]:
    """The 421 body: HTML for portal pages, the JSON error envelope for the APIs."""
    shown = host[:100] or "(none)"
    message = (
        f"host {shown!r} is not allowed here: the portal, its JSON API and the admin API answer only "
        "the hosts in portal.allowed_hosts"
    )
    if under(scope["path"], ("/portal",)):
        from html import escape

        page = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>Misdirected request</title>"
            f"<h1>421 Misdirected request</h1><p>{escape(message)}.</p>"
            "<p>Open the portal through the address in <code>server.base_url</code>, or add this host to "
            "<code>portal.allowed_hosts</code>.</p></html>"
        )
        return page.encode(), b"text/html; charset=utf-8"
    return json_bytes({"error": message}), b"application/json"


async def refuse_misdirected(scope: Scope, send: Send, host: str) -> None:
    """The 421 for a portal or admin path asked for under a ``Host`` not on ``portal.allowed_hosts`` (the edge's
    ``send`` adds the sandbox headers)."""
    body, content_type = misdirected(scope, host)
    scope.setdefault("state", {})["error"] = "host not in portal.allowed_hosts"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": 421, "headers": headers})
    await send({"type": "http.response.body", "body": body})
