"""Cross-field validation: every rule returns a message; all of them are reported together."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from apitest.config.model import Settings

FORBIDDEN_ALGORITHMS = {"none", "HS256", "HS384", "HS512"}
SUPPORTED_ALGORITHMS = {"RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "PS384", "PS512"}
DATABASE_SCHEMES = ("sqlite+aiosqlite", "sqlite", "postgresql+asyncpg", "postgresql", "postgres")
MIN_COOKIE_SECRET_BYTES = 16


def _positive(problems: list[str], name: str, value: float, minimum: float = 1) -> None:
    if value < minimum:
        problems.append(f"{name} must be >= {minimum:g}, got {value:g}")


def validate(s: Settings, environ: Mapping[str, str]) -> list[str]:
    from apitest.config.model import GROUPS

    p: list[str] = []
    db_url = s.database.url.strip()
    if s.audit.enabled and not db_url:
        p.append(
            "audit.enabled is true but database.url is empty (set database.url, e.g. sqlite+aiosqlite:///data/apitest.db)"
        )
    if s.api_keys.db.enabled and not db_url:
        p.append("api_keys.db.enabled is true but database.url is empty")
    if db_url:
        scheme = db_url.split("://", 1)[0] if "://" in db_url else ""
        if scheme not in DATABASE_SCHEMES:
            p.append(
                f"database.url: unsupported scheme {scheme or db_url!r} (use sqlite+aiosqlite:// or postgresql+asyncpg://)"
            )
    if s.portal.enabled and not s.portal.cookie_secret:
        p.append(
            "portal.cookie_secret is required when portal.enabled=true (session store: portal.cookie_secret is empty)"
        )
    elif s.portal.enabled and len(s.portal.cookie_secret.encode()) < MIN_COOKIE_SECRET_BYTES:
        p.append(f"portal.cookie_secret is too short (need >= {MIN_COOKIE_SECRET_BYTES} bytes)")
    if s.oidc.enabled and not s.oidc.issuer:
        p.append("oidc.issuer is required when oidc.enabled=true")
    if s.oidc.issuer and urlsplit(s.oidc.issuer).scheme not in ("http", "https"):
        p.append(f"oidc.issuer must be an http(s) URL, got {s.oidc.issuer!r}")
    if s.oidc.skip_signature_verification and environ.get("APITEST_INSECURE") != "1":
        p.append("oidc.skip_signature_verification requires APITEST_INSECURE=1")
    bad_algs = [a for a in s.oidc.algorithms if a in FORBIDDEN_ALGORITHMS or a not in SUPPORTED_ALGORITHMS]
    if bad_algs:
        p.append(
            f"oidc.algorithms: not allowed: {', '.join(bad_algs)} (allowed: {', '.join(sorted(SUPPORTED_ALGORITHMS))})"
        )
    has_method = (
        s.oidc.enabled
        or bool(s.api_keys.file)
        or s.api_keys.db.enabled
        or bool(s.bearer.tokens)
        or s.auth.allow_anonymous
    )
    if not has_method:
        p.append("no inbound auth method enabled: configure oidc, api_keys, bearer.tokens, or auth.allow_anonymous")
    for i, k in enumerate(s.api_keys.file):
        if not k.name:
            p.append(f"api_keys.file[{i}].name is required")
    for i, t in enumerate(s.bearer.tokens):
        if not t.name:
            p.append(f"bearer.tokens[{i}].name is required")
    if not s.api_keys.header_name.strip():
        p.append("api_keys.header_name must not be empty")
    if s.plexara.register.enabled and not s.plexara.register.admin_url:
        p.append("plexara.register.admin_url is required when plexara.register.enabled=true")
    host, sep, port = s.server.address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        p.append(f"server.address must be host:port or :port, got {s.server.address!r}")
    if urlsplit(s.server.base_url).scheme not in ("http", "https"):
        p.append(f"server.base_url must be an http(s) URL, got {s.server.base_url!r}")
    if s.server.tls.enabled and not (s.server.tls.cert_file and s.server.tls.key_file):
        p.append("server.tls.enabled needs server.tls.cert_file and server.tls.key_file")
    _positive(p, "server.workers", s.server.workers)
    _positive(p, "server.max_body_bytes", s.server.max_body_bytes)
    _positive(p, "server.shutdown.grace_period", s.server.shutdown.grace_period, 0)
    _positive(p, "server.shutdown.pre_shutdown_delay", s.server.shutdown.pre_shutdown_delay, 0)
    if s.audit.scope not in ("v1", "all"):
        p.append(f"audit.scope must be v1 or all, got {s.audit.scope!r}")
    _positive(p, "audit.buffer_size", s.audit.buffer_size)
    _positive(p, "audit.batch_size", s.audit.batch_size)
    _positive(p, "audit.flush_interval_ms", s.audit.flush_interval_ms)
    _positive(p, "audit.max_payload_bytes", s.audit.max_payload_bytes, 0)
    _positive(p, "audit.retention_days", s.audit.retention_days, 0)
    _positive(p, "oidc.clock_skew_seconds", s.oidc.clock_skew_seconds, 0)
    _positive(p, "database.max_open_conns", s.database.max_open_conns)
    _positive(p, "rate_limit.window_seconds", s.rate_limit.window_seconds)
    for name, limit in s.rate_limit.groups.items():
        if name not in GROUPS:
            p.append(f"rate_limit.groups: unknown group {name!r} (groups: {', '.join(GROUPS)})")
        elif not isinstance(limit, int) or limit < 1:
            p.append(f"rate_limit.groups.{name} must be a positive integer")
    for origin in s.server.cors.allowed_origins:
        if origin != "*" and urlsplit(origin).scheme not in ("http", "https"):
            p.append(f"server.cors.allowed_origins: {origin!r} is not '*' or an http(s) origin")
    for proxy in s.server.trusted_proxies:
        try:
            ipaddress.ip_network(str(proxy).strip(), strict=False)
        except ValueError:
            p.append(f"server.trusted_proxies: {proxy!r} is not an IP address or CIDR (e.g. 10.0.0.0/8)")
    if not s.portal.oidc_redirect_path.startswith("/"):
        p.append("portal.oidc_redirect_path must start with '/'")
    return p
