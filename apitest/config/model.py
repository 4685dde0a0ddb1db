"""The typed settings tree.

Every key a YAML profile may hold is a field here, with its default and a one-line help text in the
field metadata. The configuration reference in ``docs/configuration.md`` is generated from this
module (``apitest config-docs``), so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from typing import TYPE_CHECKING, Any

from apitest.registry import GROUP_NAMES
from apitest.registry import GROUPS as REGISTRY_GROUPS

DEFAULT_REDACT_KEYS: tuple[str, ...] = (
    "password",
    "token",
    "secret",
    "authorization",
    "api_key",
    "api-key",
    "credentials",
    "bearer",
    "cookie",
    "jwt",
    "session_id",
    "private_key",
    "passwd",
)

DEFAULT_DESCRIPTION = (
    "api-test is a controllable, deterministic HTTP service for testing API gateways. "
    "Point a gateway at it and observe what arrives: identity, headers, bodies, streaming, "
    "pagination, failures and timing.\n\n"
    "Endpoint groups: identity (who am I, which headers arrived), data (fixed, sized and lorem "
    "bodies), failure (status codes, latency, flaky responses), echo, streaming (chunked, SSE, "
    "NDJSON), pagination (Link, OData, cursor), methods, security probes, export, the failure lab, "
    "and go-httpbin's endpoints (httpbin)."
)

GROUPS = GROUP_NAMES  # the endpoint groups, in registration order (apitest.registry.GROUPS)


def setting(default: Any, help: str, *, secret: bool = False, kind: str = "") -> Any:
    """A field with a default and documentation; lists and dicts get a fresh copy per instance."""
    meta = {"help": help, "secret": secret, "kind": kind}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def group(cls: type[Any], help: str) -> Any:
    return field(default_factory=cls, metadata={"help": help, "secret": False, "kind": "group"})


@dataclass
class ShutdownSettings:
    grace_period: float = setting(
        25.0, "Time in-flight requests get to finish after the pre-shutdown delay.", kind="duration"
    )
    pre_shutdown_delay: float = setting(
        2.0,
        "Sleep after /readyz turns 503, so load balancers stop routing before the listener closes.",
        kind="duration",
    )


@dataclass
class TLSSettings:
    enabled: bool = setting(False, "Serve HTTPS directly (uvicorn ssl_certfile/ssl_keyfile).")
    cert_file: str = setting("", "PEM certificate chain used when tls.enabled.")
    key_file: str = setting("", "PEM private key used when tls.enabled.")
    dev_ca: bool = setting(
        False,
        "Serve HTTPS with the dev CA's server certificate (tls_lab.dir/server.pem, created when missing);"
        " turns TLS on by itself, cert_file and key_file are then ignored.",
    )


@dataclass
class CORSSettings:
    allowed_origins: list[str] = setting(
        ["*"], "Origins allowed by CORS; '*' allows any origin (never with credentials)."
    )


@dataclass
class ServerSettings:
    name: str = setting("api-test", "Display name; the OpenAPI title.")
    address: str = setting(":8080", "Listen address, host:port (':8080' listens on all interfaces).")
    base_url: str = setting("", "Externally reachable root URL; defaults to http://localhost:<port of address>.")
    description: str = setting(DEFAULT_DESCRIPTION, "OpenAPI info.description and the portal About page text.")
    read_header_timeout: float = setting(10.0, "Slow-loris guard: idle keep-alive / header timeout.", kind="duration")
    read_body_timeout: float = setting(
        30.0,
        "Slow-body guard: longest wait for the next request-body bytes; then 408 (or the connection is closed).",
        kind="duration",
    )
    min_body_rate: int = setting(
        512,
        "Slow-body guard: slowest average request-body rate (bytes/s) accepted once min_body_rate_grace has"
        " passed; 0 turns the floor off.",
    )
    min_body_rate_grace: float = setting(
        10.0, "How long a request body may arrive slower than min_body_rate before the floor applies.", kind="duration"
    )
    max_body_bytes: int = setting(
        10 * 1024 * 1024, "Request bodies larger than this are refused with 413 before being read whole."
    )
    debug_errors: bool = setting(False, "Add the exception type and traceback to 500 bodies (development only).")
    workers: int = setting(1, "Number of worker processes for 'apitest serve'.")
    shutdown: ShutdownSettings = group(ShutdownSettings, "Graceful shutdown timings.")
    tls: TLSSettings = group(TLSSettings, "Direct TLS termination.")
    cors: CORSSettings = group(CORSSettings, "Cross-origin resource sharing.")
    trusted_proxies: list[str] = setting(
        [],
        "CIDRs (or addresses) of proxies whose X-Forwarded-Proto, -Host and -Prefix headers are believed when the"
        " fixture builds absolute links and redirects.",
    )


@dataclass
class OIDCSettings:
    enabled: bool = setting(False, "Validate OIDC JWT bearer tokens on /v1/* and enable portal OIDC sign-in.")
    issuer: str = setting("", "Issuer URL; must equal the token 'iss' byte for byte (trailing slash included).")
    audience: str = setting("", "Required 'aud' value when non-empty (string or list claim).")
    client_id: str = setting("", "Portal sign-in client (authorization code + PKCE).")
    client_secret: str = setting("", "Portal client secret, for confidential clients.", secret=True)
    allowed_clients: list[str] = setting([], "When non-empty, one of azp/client_id/appid must be listed.")
    clock_skew_seconds: int = setting(30, "Leeway on exp and nbf.")
    jwks_cache_ttl: float = setting(3600.0, "How long a fetched JWKS is trusted.", kind="duration")
    algorithms: list[str] = setting(
        ["RS256", "RS384", "RS512", "ES256"], "Accepted JWS algorithms (none and HMAC are never accepted)."
    )
    skip_signature_verification: bool = setting(
        False, "Parse tokens without verifying them; requires APITEST_INSECURE=1."
    )
    scopes_claim: str = setting(
        "scope", "Claim holding granted scopes (space-separated string or list; 'scp' is also read)."
    )


@dataclass
class FileKey:
    name: str = setting("", "Key name; becomes the caller's subject and key_name.")
    key: str = setting("", "Plaintext key value, compared in constant time.", secret=True)
    description: str = setting("", "Free text.")
    scopes: list[str] = setting([], "Scopes granted to callers using this key.")


@dataclass
class APIKeysDBSettings:
    enabled: bool = setting(False, "Accept database-stored keys (hashed, revocable, with expiry and scopes).")
    pepper: str = setting("", "Optional server secret mixed into stored key digests (HMAC-SHA-256).", secret=True)


@dataclass
class APIKeysSettings:
    header_name: str = setting("X-API-Key", "Header read for API keys.")
    query_param_name: str = setting("api_key", "Query parameter read when the header is absent.")
    file: list[FileKey] = setting([], "Keys defined in the configuration file.")
    db: APIKeysDBSettings = group(APIKeysDBSettings, "Database key store.")


@dataclass
class BearerToken:
    name: str = setting("", "Token name; becomes the caller's subject and key_name.")
    token: str = setting("", "Static bearer token, compared in constant time.", secret=True)
    description: str = setting("", "Free text.")
    scopes: list[str] = setting([], "Scopes granted to callers using this token.")


@dataclass
class BearerSettings:
    tokens: list[BearerToken] = setting([], "Static bearer tokens.")


@dataclass
class AuthSettings:
    allow_anonymous: bool = setting(False, "Requests carrying no credential at all proceed as 'anonymous'.")
    require_for_api: bool = setting(False, "Reserved: accepted and ignored, so older profiles still load.")
    require_for_portal: bool = setting(False, "Reserved: accepted and ignored, so older profiles still load.")


@dataclass
class DatabaseSettings:
    url: str = setting("", "sqlite+aiosqlite:///<path> or postgresql+asyncpg://user:pass@host/db.", secret=True)
    max_open_conns: int = setting(25, "Connection pool size (Postgres).")
    max_idle_conns: int = setting(5, "Connections kept open when idle (Postgres).")
    conn_max_lifetime: float = setting(3600.0, "Recycle pooled connections after this long.", kind="duration")
    migrate_on_boot: bool = setting(True, "Run Alembic migrations to head when the server starts.")


@dataclass
class AuditSettings:
    enabled: bool = setting(False, "Record every /v1/* request in the database.")
    retention_days: int = setting(7, "Delete events older than this many days (0 keeps everything).")
    redact_keys: list[str] = setting(
        list(DEFAULT_REDACT_KEYS), "Header and query names containing any of these (case-insensitive) are redacted."
    )
    capture_payloads: bool = setting(True, "Store request and response headers and bodies.")
    capture_headers: bool = setting(True, "Store headers and query (when capture_payloads is on).")
    max_payload_bytes: int = setting(
        1024 * 1024, "Body capture cap, per side; longer bodies are truncated and flagged."
    )
    buffer_size: int = setting(
        8192, "Events held in memory waiting for the writer; beyond it events are dropped and counted."
    )
    buffer_bytes: int = setting(
        64 * 1024 * 1024,
        "Bytes of events (bodies, headers, query) held in memory waiting for the writer; beyond it events are"
        " dropped and counted, as for buffer_size.",
    )
    max_header_bytes: int = setting(
        64 * 1024,
        "Cap on the request headers (and on the query) stored per event; values past it are left out and the"
        " event's details say request_headers_truncated.",
    )
    rejected_payload_bytes: int = setting(
        4096,
        "Requests rejected by auth (401/403) keep their row, but their headers, query and bodies are stored only"
        " up to this many bytes each (truncation flagged).",
    )
    backpressure_wait_ms: int = setting(
        10_000,
        "When the buffer is full while the database is healthy (slower than the traffic), a request waits up"
        " to this long for room before it is answered; an event still without room then is dropped and counted."
        " No wait during a database outage (events are dropped and counted at once). 0 never waits.",
    )
    batch_size: int = setting(2000, "Most events written in one batch (COPY on PostgreSQL).")
    flush_interval_ms: int = setting(200, "Longest an event waits in the buffer before a write.")
    include_rejected: bool = setting(True, "Also record requests rejected by auth (401/403).")
    scope: str = setting(
        "v1",
        "Which requests are recorded: v1 (every /v1 request) or all (also every other path except the portal, "
        "its API, the admin API, health, /metrics and static assets).",
    )
    retention_interval: float = setting(3600.0, "How often the retention job runs.", kind="duration")


@dataclass
class PortalSettings:
    enabled: bool = setting(False, "Serve the portal under /portal/ and its JSON API under /api/v1/portal/.")
    cookie_name: str = setting("api_test_session", "Session cookie name.")
    cookie_secret: str = setting("", "Session signing secret (at least 16 bytes).", secret=True)
    cookie_secure: bool = setting(False, "Mark the session cookie Secure (needs https).")
    oidc_redirect_path: str = setting("/portal/auth/callback", "Path appended to base_url for the OIDC redirect URI.")
    allow_anonymous: bool = setting(False, "Open the portal without sign-in (development only; logs a WARN).")
    session_ttl: float = setting(12 * 3600.0, "Session lifetime.", kind="duration")
    allowed_hosts: list[str] = setting(
        [],
        "Host header values the portal, its JSON API and the admin API answer (others get 421, which stops DNS"
        " rebinding); empty means the host of server.base_url, localhost, 127.0.0.1 and [::1].",
    )


@dataclass
class EndpointGroup:
    enabled: bool = setting(False, "Serve this group's routes.")


def _endpoint_group(name: str) -> Any:
    return group(EndpointGroup, f"The {name} endpoint group.")


if TYPE_CHECKING:

    class EndpointsSettings:
        """One ``EndpointGroup`` per endpoint group (``endpoints.identity``, ``endpoints.lab``, ...)."""

        def __getattr__(self, name: str) -> EndpointGroup: ...

else:
    # One ``EndpointGroup`` field per group of apitest.registry.GROUPS, in registration order.
    # ``module=`` names this module as its home, so settings pickle (server workers receive them pickled).
    EndpointsSettings = make_dataclass(
        "EndpointsSettings",
        [(g.name, EndpointGroup, _endpoint_group(g.title)) for g in REGISTRY_GROUPS],
    )
    EndpointsSettings.__module__ = __name__


@dataclass
class RateLimitSettings:
    enabled: bool = setting(True, "Apply per-identity rate limits to the groups listed in rate_limit.groups.")
    window_seconds: int = setting(60, "Window length of the group limits.")
    groups: dict[str, int] = setting({}, "Requests per window per identity, by endpoint group (e.g. {lab: 120}).")


@dataclass
class IdempotencySettings:
    ttl: float = setting(600.0, "How long an Idempotency-Key is remembered.", kind="duration")


@dataclass
class LabSettings:
    redirect_hosts: list[str] = setting(
        [],
        "Host names a fixture response may redirect to off-site (a Location on another host); empty allows only"
        " relative redirects.",
    )


@dataclass
class TLSLabPorts:
    valid: int = setting(0, "Signed by the dev CA for tls_lab.hosts (0 turns a listener off).")
    self_signed: int = setting(0, "A self-signed certificate.")
    expired: int = setting(0, "Signed by the dev CA, expired.")
    not_yet_valid: int = setting(0, "Signed by the dev CA, valid only in ten years.")
    wrong_host: int = setting(0, "Signed by the dev CA for wrong-host.apitest.invalid only.")
    untrusted_root: int = setting(0, "Signed by a second root CA the gateway does not trust.")
    incomplete_chain: int = setting(0, "Signed by an intermediate the server does not send.")
    weak_key: int = setting(0, "Signed by the dev CA with an RSA-1024 key.")
    tls1_0: int = setting(0, "TLS 1.0 only (where the OpenSSL build allows it).")
    tls1_1: int = setting(0, "TLS 1.1 only (where the OpenSSL build allows it).")
    mtls_required: int = setting(0, "Requires a client certificate signed by the dev CA (mutual TLS).")
    mtls_optional: int = setting(0, "Records a client certificate signed by the dev CA when one is presented.")


@dataclass
class TLSLabSettings:
    enabled: bool = setting(False, "Serve the TLS lab listeners (docs/tls.md): same app and audit, one port each.")
    dir: str = setting("data/tls", "The dev CA directory (apitest tls init): CA, server, client and lab certificates.")
    hosts: list[str] = setting(
        ["localhost"], "Host names the dev CA's certificates name (127.0.0.1 and ::1 are always added)."
    )
    ports: TLSLabPorts = group(TLSLabPorts, "One port per lab listener, on the host of server.address; 0 is off.")


@dataclass
class MetricsSettings:
    enabled: bool = setting(True, "Serve Prometheus metrics at /metrics.")
    require_auth: bool = setting(False, "Require an API credential (the /v1 chain) to read /metrics.")


@dataclass
class WebhookSubscriptionSetting:
    name: str = setting("", "Subscription name (unique); the file's subscriptions are upserted by name at start.")
    url: str = setting("", "Target URL (http or https); its host must be listed in webhooks.allowed_hosts.")
    secret: str = setting(
        "", "Signing secret: whsec_<base64> (Standard Webhooks) or any string (used as UTF-8 bytes).", secret=True
    )
    filter: str = setting(
        "", "Audit filter whose matching requests are delivered, e.g. 'status=5xx route=create_order'."
    )
    event_types: list[str] = setting(["*"], "Types of explicit sends (POST /v1/webhooks/send) delivered; '*' is any.")
    scheme: str = setting("", "Signature headers: standard or stripe (empty: webhooks.signature_scheme).")
    active: bool = setting(True, "Inactive subscriptions get no new deliveries.")
    description: str = setting("", "Free text.")


@dataclass
class WebhookReceiverSettings:
    secrets: list[str] = setting(
        [], "Secrets POST /v1/webhooks/receive verifies signatures with (any one may match).", secret=True
    )
    tolerance_seconds: int = setting(300, "Largest difference between a signature timestamp and now.")


@dataclass
class WebhooksSettings:
    enabled: bool = setting(
        False,
        "Run the delivery worker, /api/v1/admin/webhooks, the portal page and /v1/webhooks/send (needs a database).",
    )
    allowed_hosts: list[str] = setting(
        [], "Target hosts deliveries may reach (exact names or IPs, '*.example.com'); loopback only when listed."
    )
    subscriptions: list[WebhookSubscriptionSetting] = setting([], "Subscriptions defined in the configuration file.")
    signature_scheme: str = setting("standard", "Default signature headers of new subscriptions: standard or stripe.")
    connect_timeout: float = setting(5.0, "Connect timeout of one delivery attempt.", kind="duration")
    timeout: float = setting(10.0, "Read, write and pool timeout of one delivery attempt.", kind="duration")
    max_attempts: int = setting(
        5, "Attempts before a delivery is dead-lettered (a manual redelivery starts a new round)."
    )
    backoff_base: float = setting(
        5.0, "Delay before the 2nd attempt; each later one doubles (base * 2^(n-1)).", kind="duration"
    )
    backoff_max: float = setting(300.0, "Longest delay between attempts (also caps Retry-After).", kind="duration")
    jitter: float = setting(0.2, "Random spread of each delay, as a fraction (0.2: +-20%; 0 is exact).")
    max_response_bytes: int = setting(16384, "Response body bytes kept per attempt (the rest is not read).")
    poll_interval: float = setting(
        1.0, "How often each worker looks for due deliveries and newly recorded audit rows.", kind="duration"
    )
    concurrency: int = setting(4, "Deliveries one worker process sends at once.")
    retention_days: int = setting(
        7, "Delete succeeded and dead deliveries (with their attempts) this many days after they ended (0 keeps them)."
    )
    receiver: WebhookReceiverSettings = group(WebhookReceiverSettings, "POST /v1/webhooks/receive (lab group).")


@dataclass
class PlexaraRegisterSettings:
    enabled: bool = setting(False, "Reserved: self-registration with a Plexara admin API.")
    admin_url: str = setting("", "Plexara admin endpoint for connections.")
    auth_header: str = setting("", "Authorization header value for the admin endpoint.", secret=True)
    connection_name: str = setting("api-test", "Connection name to register under.")


@dataclass
class PlexaraSettings:
    register: PlexaraRegisterSettings = group(PlexaraRegisterSettings, "Self-registration (validated only).")


@dataclass
class ConfigMeta:
    """Where the settings came from; not a configuration key."""

    path: str = ""
    sources: dict[str, str] = field(default_factory=dict)  # dotted key -> "default" | "file" | "${VAR}" | "env NAME"
    unset_vars: list[str] = field(default_factory=list)  # ${VAR} references without a default whose VAR is unset


@dataclass
class Settings:
    server: ServerSettings = group(ServerSettings, "HTTP server.")
    oidc: OIDCSettings = group(OIDCSettings, "OIDC JWT validation and portal sign-in.")
    api_keys: APIKeysSettings = group(APIKeysSettings, "API keys.")
    bearer: BearerSettings = group(BearerSettings, "Static bearer tokens.")
    auth: AuthSettings = group(AuthSettings, "Inbound auth behaviour.")
    database: DatabaseSettings = group(DatabaseSettings, "Database (audit log, database keys, idempotency).")
    audit: AuditSettings = group(AuditSettings, "Audit log.")
    portal: PortalSettings = group(PortalSettings, "Portal.")
    endpoints: EndpointsSettings = group(EndpointsSettings, "Endpoint groups.")
    rate_limit: RateLimitSettings = group(RateLimitSettings, "Rate limiting.")
    idempotency: IdempotencySettings = group(IdempotencySettings, "Idempotency keys (POST /v1/orders).")
    lab: LabSettings = group(LabSettings, "Failure lab and redirect behaviour.")
    tls_lab: TLSLabSettings = group(TLSLabSettings, "TLS lab: dev CA, broken-certificate and mTLS listeners.")
    metrics: MetricsSettings = group(MetricsSettings, "Prometheus metrics.")
    webhooks: WebhooksSettings = group(WebhooksSettings, "Outbound webhook deliveries and the verifying receiver.")
    plexara: PlexaraSettings = group(PlexaraSettings, "Plexara integration.")
    meta: ConfigMeta = field(default_factory=ConfigMeta, metadata={"internal": True})

    def enabled_groups(self) -> list[str]:
        return [name for name in GROUPS if getattr(self.endpoints, name).enabled]

    def listen_port(self) -> int:
        _, _, port = self.server.address.rpartition(":")
        return int(port) if port.isdigit() else 8080

    def listen_host(self) -> str:
        host, _, _ = self.server.address.rpartition(":")
        return host.strip("[]") or "0.0.0.0"
