"""Cross-field validation: every rule returns a message; all of them are reported together."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from apitest.config.model import Settings

FORBIDDEN_ALGORITHMS = {"none", "HS256", "HS384", "HS512"}
SUPPORTED_ALGORITHMS = {"RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "PS384", "PS512"}
DATABASE_SCHEMES = ("sqlite+aiosqlite", "sqlite", "postgresql+asyncpg", "postgresql", "postgres")
MIN_COOKIE_SECRET_BYTES = 16
HOST = re.compile(r"[A-Za-z0-9._-]+(:[0-9]+)?|\[[0-9A-Fa-f:.]+\](:[0-9]+)?")


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
    if s.server.tls.enabled and not s.server.tls.dev_ca and not (s.server.tls.cert_file and s.server.tls.key_file):
        p.append("server.tls.enabled needs server.tls.cert_file and server.tls.key_file (or server.tls.dev_ca: true)")
    _tls_lab(p, s)
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
    _positive(p, "audit.buffer_bytes", s.audit.buffer_bytes)
    _positive(p, "audit.max_header_bytes", s.audit.max_header_bytes, 0)
    _positive(p, "audit.rejected_payload_bytes", s.audit.rejected_payload_bytes, 0)
    _positive(p, "server.read_body_timeout", s.server.read_body_timeout, 0)
    _positive(p, "server.min_body_rate", s.server.min_body_rate, 0)
    _positive(p, "server.min_body_rate_grace", s.server.min_body_rate_grace, 0)
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
    for host in s.portal.allowed_hosts:
        if not HOST.fullmatch(host):
            p.append(f"portal.allowed_hosts: {host!r} is not a host name or address (e.g. portal.example, 10.0.0.5)")
    if not s.portal.oidc_redirect_path.startswith("/"):
        p.append("portal.oidc_redirect_path must start with '/'")
    _webhooks(p, s)
    return p


WEBHOOK_SCHEMES = ("standard", "stripe")


def _webhooks(p: list[str], s: Settings) -> None:
    w = s.webhooks
    if w.enabled and not s.database.url.strip():
        p.append("webhooks.enabled is true but database.url is empty (deliveries are kept in the database)")
    if w.signature_scheme not in WEBHOOK_SCHEMES:
        p.append(f"webhooks.signature_scheme must be one of {', '.join(WEBHOOK_SCHEMES)}, got {w.signature_scheme!r}")
    _positive(p, "webhooks.max_attempts", w.max_attempts)
    _positive(p, "webhooks.concurrency", w.concurrency)
    _positive(p, "webhooks.max_response_bytes", w.max_response_bytes, 0)
    _positive(p, "webhooks.backoff_base", w.backoff_base, 0)
    _positive(p, "webhooks.poll_interval", w.poll_interval, 0.01)
    _positive(p, "webhooks.timeout", w.timeout, 0.1)
    _positive(p, "webhooks.connect_timeout", w.connect_timeout, 0.1)
    _positive(p, "webhooks.receiver.tolerance_seconds", w.receiver.tolerance_seconds, 0)
    _positive(p, "webhooks.retention_days", w.retention_days, 0)
    if w.backoff_max < w.backoff_base:
        p.append("webhooks.backoff_max must be >= webhooks.backoff_base")
    if not 0 <= w.jitter <= 1:
        p.append(f"webhooks.jitter must be between 0 and 1, got {w.jitter:g}")
    names: set[str] = set()
    for i, sub in enumerate(w.subscriptions):
        where = f"webhooks.subscriptions[{i}]"
        if not sub.name.strip():
            p.append(f"{where}.name is required")
        elif sub.name in names:
            p.append(f"{where}.name {sub.name!r} is used twice")
        names.add(sub.name)
        if urlsplit(sub.url).scheme not in ("http", "https"):
            p.append(f"{where}.url must be an http(s) URL, got {sub.url!r}")
        if not sub.secret:
            p.append(f"{where}.secret is required (e.g. ${{WEBHOOK_SECRET}})")
        if sub.scheme and sub.scheme not in WEBHOOK_SCHEMES:
            p.append(f"{where}.scheme must be one of {', '.join(WEBHOOK_SCHEMES)}, got {sub.scheme!r}")


def _tls_lab(p: list[str], s: Settings) -> None:
    lab = s.tls_lab
    if (lab.enabled or s.server.tls.dev_ca) and not lab.dir.strip():
        p.append("tls_lab.dir must name the dev CA directory")
    if (lab.enabled or s.server.tls.dev_ca) and not any(h.strip() for h in lab.hosts):
        p.append("tls_lab.hosts must name at least one host")
    seen: dict[int, str] = {s.listen_port(): "server.address"}
    for key, port in vars(lab.ports).items():
        if not isinstance(port, int) or not 0 <= port <= 65535:
            p.append(f"tls_lab.ports.{key} must be a port number 0-65535 (0 turns the listener off)")
        elif port and lab.enabled:
            if port in seen:
                p.append(f"tls_lab.ports.{key} {port} is also {seen[port]}")
            seen[port] = f"tls_lab.ports.{key}"
