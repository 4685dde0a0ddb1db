"""Public URLs: the scheme, host and path prefix a client of the fixture sees, for the absolute links and
redirects the fixture builds (pagination ``Link`` and ``@odata.nextLink``, the root redirect).

In order, each later rule overriding the earlier:

1. the request itself: its scheme and ``Host`` header, no prefix (what a gateway forwarded);
2. ``server.base_url`` when it is configured (not the ``http://localhost:<port>`` default): its scheme, host,
   port and path, so a fixture behind ``http://gw/api`` links to ``http://gw/api/v1/...`` even when the gateway
   sends ``Host: gw`` without the port or strips the prefix;
3. ``X-Forwarded-Proto``, ``X-Forwarded-Host`` and ``X-Forwarded-Prefix`` (first value of each), only from a
   peer whose address is in ``server.trusted_proxies`` (CIDRs, empty by default): anyone else could point the
   links elsewhere.

Both what arrived and what was used are recorded: the raw ``X-Forwarded-*`` headers are in the audit row's
request headers, the effective origin and whether the peer was trusted in its ``details.public_url``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from starlette.types import Scope

from apitest.config import Settings
from apitest.failures import note_detail

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class PublicOrigin:
    scheme: str
    host: str  # host[:port]
    prefix: str  # "" or "/api" (no trailing slash)

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}{self.prefix}{path}"


def parse_networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    """CIDRs (a bare address is a /32 or /128); config validation has already refused bad ones."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


@lru_cache(maxsize=16)
def _networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_networks(values)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1")).split(",", 1)[0].strip()
    return ""


def trusted_peer(scope: Scope, proxies: tuple[str, ...]) -> bool:
    client = scope.get("client")
    if not client or not proxies:
        return False
    try:
        address = ipaddress.ip_address(str(client[0]))
    except ValueError:
        return False
    return any(address in network for network in _networks(proxies))


def _clean_prefix(prefix: str) -> str:
    prefix = prefix.strip()
    if not prefix.startswith("/") or prefix.startswith("//") or any(c in prefix for c in "?#\\ \t"):
        return ""
    return prefix.rstrip("/")


def _clean_host(host: str) -> str:
    return host if host and all(c.isalnum() or c in ".-:[]_" for c in host) else ""


def public_origin(scope: Scope, settings: Settings) -> PublicOrigin:
    """The origin and prefix for links in the response to ``scope`` (see the module docstring)."""
    server = settings.server
    scheme = "https" if scope.get("scheme") == "https" else "http"
    host = _clean_host(_header(scope, b"host"))
    prefix = ""
    if settings.meta.sources.get("server.base_url", "default") != "default" and server.base_url:
        base = urlsplit(server.base_url)
        scheme, host, prefix = base.scheme, base.netloc, _clean_prefix(base.path)
    trusted = trusted_peer(scope, tuple(server.trusted_proxies))
    forwarded = {name: _header(scope, f"x-forwarded-{name}".encode()) for name in ("proto", "host", "prefix")}
    if trusted:
        if forwarded["proto"].lower() in ("http", "https"):
            scheme = forwarded["proto"].lower()
        host = _clean_host(forwarded["host"]) or host
        if forwarded["prefix"]:
            prefix = _clean_prefix(forwarded["prefix"])
    origin = PublicOrigin(scheme, host, prefix)
    if any(forwarded.values()) or prefix:
        note_detail(scope, "public_url", {"origin": f"{scheme}://{host}", "prefix": prefix, "trusted_proxy": trusted})
    return origin
