"""Cross-field validation: the error rules, in the order their messages are reported, and :func:`validate`.

Each rule is a small named check (see :mod:`apitest.config.rule`); every problem is reported together, so
one ``apitest check`` lists all of them. ``apitest doctor`` shows these messages with the rule's ``fix``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from apitest.config.rule import Rule, at_least, error

if TYPE_CHECKING:
    from apitest.config.model import Settings

FORBIDDEN_ALGORITHMS = {"none", "HS256", "HS384", "HS512"}
SUPPORTED_ALGORITHMS = {"RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "PS384", "PS512"}
DATABASE_SCHEMES = ("sqlite+aiosqlite", "sqlite", "postgresql+asyncpg", "postgresql", "postgres")
MIN_COOKIE_SECRET_BYTES = 16
HOST = re.compile(r"[A-Za-z0-9._-]+(:[0-9]+)?|\[[0-9A-Fa-f:.]+\](:[0-9]+)?")
WEBHOOK_SCHEMES = ("standard", "stripe")
COOKIE_SECRET_FIX = "export APITEST_COOKIE_SECRET=$(openssl rand -base64 48) (make dev-secrets)"  # noqa: S105 - a command
Env = Mapping[str, str]


def _http_url(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https")


@error(
    "audit",
    "database",
    fix="set database.url (sqlite+aiosqlite:///data/apitest.db for one process, postgresql+asyncpg://... "
    "for several workers or replicas), or audit.enabled: false",
)
def audit_needs_database(s: Settings, env: Env) -> Iterable[str]:
    if s.audit.enabled and not s.database.url.strip():
        yield "audit.enabled is true but database.url is empty (set database.url, e.g. sqlite+aiosqlite:///data/apitest.db)"


@error("api_keys.db", "database")
def key_store_needs_database(s: Settings, env: Env) -> Iterable[str]:
    if s.api_keys.db.enabled and not s.database.url.strip():
        yield "api_keys.db.enabled is true but database.url is empty"


@error("database.url", "scheme")
def database_scheme(s: Settings, env: Env) -> Iterable[str]:
    url = s.database.url.strip()
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if url and scheme not in DATABASE_SCHEMES:
        yield f"database.url: unsupported scheme {scheme or url!r} (use sqlite+aiosqlite:// or postgresql+asyncpg://)"


@error("portal.cookie_secret", "required", fix=COOKIE_SECRET_FIX)
def cookie_secret_required(s: Settings, env: Env) -> Iterable[str]:
    if s.portal.enabled and not s.portal.cookie_secret:
        yield "portal.cookie_secret is required when portal.enabled=true (session store: portal.cookie_secret is empty)"


@error("portal.cookie_secret", "length", fix=COOKIE_SECRET_FIX)
def cookie_secret_length(s: Settings, env: Env) -> Iterable[str]:
    size = len(s.portal.cookie_secret.encode())
    if s.portal.enabled and 0 < size < MIN_COOKIE_SECRET_BYTES:
        yield f"portal.cookie_secret is too short: {size} bytes (need >= {MIN_COOKIE_SECRET_BYTES} bytes)"


@error(
    "oidc.issuer",
    "required",
    fix="set oidc.issuer (APITEST_OIDC_ISSUER) to the IdP's issuer URL, or oidc.enabled: false",
)
def oidc_issuer_required(s: Settings, env: Env) -> Iterable[str]:
    if s.oidc.enabled and not s.oidc.issuer:
        yield "oidc.issuer is required when oidc.enabled=true"


@error("oidc.issuer", "url")
def oidc_issuer_url(s: Settings, env: Env) -> Iterable[str]:
    if s.oidc.issuer and not _http_url(s.oidc.issuer):
        yield f"oidc.issuer must be an http(s) URL, got {s.oidc.issuer!r}"


@error(
    "oidc.skip_signature_verification",
    fix="turn it off; it is for local experiments only (APITEST_INSECURE=1)",
)
def skip_signature_needs_insecure(s: Settings, env: Env) -> Iterable[str]:
    if s.oidc.skip_signature_verification and env.get("APITEST_INSECURE") != "1":
        yield "oidc.skip_signature_verification requires APITEST_INSECURE=1"


@error("oidc.algorithms")
def oidc_algorithms(s: Settings, env: Env) -> Iterable[str]:
    bad = [a for a in s.oidc.algorithms if a in FORBIDDEN_ALGORITHMS or a not in SUPPORTED_ALGORITHMS]
    if bad:
        yield f"oidc.algorithms: not allowed: {', '.join(bad)} (allowed: {', '.join(sorted(SUPPORTED_ALGORITHMS))})"


@error("auth", "method", fix="add api_keys.file, bearer.tokens, api_keys.db or oidc, or auth.allow_anonymous: true")
def some_auth_method(s: Settings, env: Env) -> Iterable[str]:
    methods = (s.oidc.enabled, s.api_keys.file, s.api_keys.db.enabled, s.bearer.tokens, s.auth.allow_anonymous)
    if not any(methods):
        yield "no inbound auth method enabled: configure oidc, api_keys, bearer.tokens, or auth.allow_anonymous"


@error("api_keys.file", "name")
def file_key_names(s: Settings, env: Env) -> Iterable[str]:
    return (f"api_keys.file[{i}].name is required" for i, k in enumerate(s.api_keys.file) if not k.name)


@error("bearer.tokens", "name")
def bearer_token_names(s: Settings, env: Env) -> Iterable[str]:
    return (f"bearer.tokens[{i}].name is required" for i, t in enumerate(s.bearer.tokens) if not t.name)


@error("api_keys.header_name")
def key_header_name(s: Settings, env: Env) -> Iterable[str]:
    if not s.api_keys.header_name.strip():
        yield "api_keys.header_name must not be empty"


@error("plexara.register.admin_url")
def plexara_admin_url(s: Settings, env: Env) -> Iterable[str]:
    if s.plexara.register.enabled and not s.plexara.register.admin_url:
        yield "plexara.register.admin_url is required when plexara.register.enabled=true"


@error("server.address")
def server_address(s: Settings, env: Env) -> Iterable[str]:
    _, sep, port = s.server.address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        yield f"server.address must be host:port or :port, got {s.server.address!r}"


@error("server.base_url")
def server_base_url(s: Settings, env: Env) -> Iterable[str]:
    if not _http_url(s.server.base_url):
        yield f"server.base_url must be an http(s) URL, got {s.server.base_url!r}"


@error("server.tls", "files")
def tls_files(s: Settings, env: Env) -> Iterable[str]:
    tls = s.server.tls
    if tls.enabled and not tls.dev_ca and not (tls.cert_file and tls.key_file):
        yield "server.tls.enabled needs server.tls.cert_file and server.tls.key_file (or server.tls.dev_ca: true)"


@error("tls_lab.dir")
def tls_lab_dir(s: Settings, env: Env) -> Iterable[str]:
    if (s.tls_lab.enabled or s.server.tls.dev_ca) and not s.tls_lab.dir.strip():
        yield "tls_lab.dir must name the dev CA directory"


@error("tls_lab.hosts")
def tls_lab_hosts(s: Settings, env: Env) -> Iterable[str]:
    if (s.tls_lab.enabled or s.server.tls.dev_ca) and not any(h.strip() for h in s.tls_lab.hosts):
        yield "tls_lab.hosts must name at least one host"


@error("tls_lab.ports")
def tls_lab_ports(s: Settings, env: Env) -> Iterable[str]:
    seen: dict[int, str] = {s.listen_port(): "server.address"}
    for key, port in vars(s.tls_lab.ports).items():
        if not isinstance(port, int) or not 0 <= port <= 65535:
            yield f"tls_lab.ports.{key} must be a port number 0-65535 (0 turns the listener off)"
        elif port and s.tls_lab.enabled:
            if port in seen:
                yield f"tls_lab.ports.{key} {port} is also {seen[port]}"
            seen[port] = f"tls_lab.ports.{key}"


@error("audit.scope")
def audit_scope(s: Settings, env: Env) -> Iterable[str]:
    if s.audit.scope not in ("v1", "all"):
        yield f"audit.scope must be v1 or all, got {s.audit.scope!r}"


@error("rate_limit.groups")
def rate_limit_groups(s: Settings, env: Env) -> Iterable[str]:
    from apitest.config.model import GROUPS

    for name, limit in s.rate_limit.groups.items():
        if name not in GROUPS:
            yield f"rate_limit.groups: unknown group {name!r} (groups: {', '.join(GROUPS)})"
        elif not isinstance(limit, int) or limit < 1:
            yield f"rate_limit.groups.{name} must be a positive integer"


@error("server.cors.allowed_origins")
def cors_origins(s: Settings, env: Env) -> Iterable[str]:
    for origin in s.server.cors.allowed_origins:
        if origin != "*" and not _http_url(origin):
            yield f"server.cors.allowed_origins: {origin!r} is not '*' or an http(s) origin"


@error("server.trusted_proxies")
def trusted_proxies(s: Settings, env: Env) -> Iterable[str]:
    for proxy in s.server.trusted_proxies:
        try:
            ipaddress.ip_network(str(proxy).strip(), strict=False)
        except ValueError:
            yield f"server.trusted_proxies: {proxy!r} is not an IP address or CIDR (e.g. 10.0.0.0/8)"


@error("portal.allowed_hosts")
def portal_allowed_hosts(s: Settings, env: Env) -> Iterable[str]:
    for host in s.portal.allowed_hosts:
        if not HOST.fullmatch(host):
            yield f"portal.allowed_hosts: {host!r} is not a host name or address (e.g. portal.example, 10.0.0.5)"


@error("portal.oidc_redirect_path")
def portal_redirect_path(s: Settings, env: Env) -> Iterable[str]:
    if not s.portal.oidc_redirect_path.startswith("/"):
        yield "portal.oidc_redirect_path must start with '/'"


@error("webhooks", "database")
def webhooks_need_database(s: Settings, env: Env) -> Iterable[str]:
    if s.webhooks.enabled and not s.database.url.strip():
        yield "webhooks.enabled is true but database.url is empty (deliveries are kept in the database)"


@error("webhooks.signature_scheme")
def webhook_scheme(s: Settings, env: Env) -> Iterable[str]:
    scheme = s.webhooks.signature_scheme
    if scheme not in WEBHOOK_SCHEMES:
        yield f"webhooks.signature_scheme must be one of {', '.join(WEBHOOK_SCHEMES)}, got {scheme!r}"


@error("webhooks.backoff_max")
def webhook_backoff(s: Settings, env: Env) -> Iterable[str]:
    if s.webhooks.backoff_max < s.webhooks.backoff_base:
        yield "webhooks.backoff_max must be >= webhooks.backoff_base"


@error("webhooks.jitter")
def webhook_jitter(s: Settings, env: Env) -> Iterable[str]:
    if not 0 <= s.webhooks.jitter <= 1:
        yield f"webhooks.jitter must be between 0 and 1, got {s.webhooks.jitter:g}"


@error("webhooks.subscriptions")
def webhook_subscriptions(s: Settings, env: Env) -> Iterable[str]:
    names: set[str] = set()
    for i, sub in enumerate(s.webhooks.subscriptions):
        where = f"webhooks.subscriptions[{i}]"
        if not sub.name.strip():
            yield f"{where}.name is required"
        elif sub.name in names:
            yield f"{where}.name {sub.name!r} is used twice"
        names.add(sub.name)
        if not _http_url(sub.url):
            yield f"{where}.url must be an http(s) URL, got {sub.url!r}"
        if not sub.secret:
            yield f"{where}.secret is required (e.g. ${{WEBHOOK_SECRET}})"
        if sub.scheme and sub.scheme not in WEBHOOK_SCHEMES:
            yield f"{where}.scheme must be one of {', '.join(WEBHOOK_SCHEMES)}, got {sub.scheme!r}"


# In the order the messages are reported.
ERRORS: tuple[Rule, ...] = (
    audit_needs_database,
    key_store_needs_database,
    database_scheme,
    cookie_secret_required,
    cookie_secret_length,
    oidc_issuer_required,
    oidc_issuer_url,
    skip_signature_needs_insecure,
    oidc_algorithms,
    some_auth_method,
    file_key_names,
    bearer_token_names,
    key_header_name,
    plexara_admin_url,
    server_address,
    server_base_url,
    tls_files,
    tls_lab_dir,
    tls_lab_hosts,
    tls_lab_ports,
    at_least("server.workers"),
    at_least("server.max_body_bytes"),
    at_least("server.shutdown.grace_period", 0),
    at_least("server.shutdown.pre_shutdown_delay", 0),
    audit_scope,
    at_least("audit.buffer_size"),
    at_least("audit.batch_size"),
    at_least("audit.flush_interval_ms"),
    at_least("audit.max_payload_bytes", 0),
    at_least("audit.buffer_bytes"),
    at_least("audit.max_header_bytes", 0),
    at_least("audit.rejected_payload_bytes", 0),
    at_least("server.read_body_timeout", 0),
    at_least("server.min_body_rate", 0),
    at_least("server.min_body_rate_grace", 0),
    at_least("audit.retention_days", 0),
    at_least("oidc.clock_skew_seconds", 0),
    at_least("database.max_open_conns"),
    at_least("rate_limit.window_seconds"),
    rate_limit_groups,
    cors_origins,
    trusted_proxies,
    portal_allowed_hosts,
    portal_redirect_path,
    webhooks_need_database,
    webhook_scheme,
    at_least("webhooks.max_attempts"),
    at_least("webhooks.concurrency"),
    at_least("webhooks.max_response_bytes", 0),
    at_least("webhooks.backoff_base", 0),
    at_least("webhooks.poll_interval", 0.01),
    at_least("webhooks.timeout", 0.1),
    at_least("webhooks.connect_timeout", 0.1),
    at_least("webhooks.receiver.tolerance_seconds", 0),
    at_least("webhooks.retention_days", 0),
    webhook_backoff,
    webhook_jitter,
    webhook_subscriptions,
)


def validate(s: Settings, environ: Mapping[str, str]) -> list[str]:
    """Every problem of every error rule, in order; empty when the settings may be used."""
    return [message for rule in ERRORS for message in rule.check(s, environ)]
