"""Warning rules: settings that load but deserve a word (the portal logs its own at boot; ``apitest doctor``
reports all of them, failing on those marked ``breaks``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from apitest.config.hosts import is_loopback
from apitest.config.rule import Rule, warning
from apitest.config.shipped import SHIPPED_SECRETS
from apitest.config.validate import MIN_COOKIE_SECRET_BYTES

if TYPE_CHECKING:
    from apitest.config.model import Settings

GOOD_COOKIE_SECRET_BYTES = 32
ALL_INTERFACES = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - recognising them, not binding
NEW_COOKIE_SECRET = "export APITEST_COOKIE_SECRET=$(python -c 'import secrets; print(secrets.token_urlsafe(48))')"  # noqa: S105 - a command
Env = Mapping[str, str]


def _local_base_url(s: Settings) -> bool:
    return is_loopback(urlsplit(s.server.base_url).hostname or "-")


def _cookie_over_http(s: Settings) -> bool:
    return s.portal.enabled and s.portal.cookie_secure and urlsplit(s.server.base_url).scheme == "http"


@warning(
    "auth.anonymous",
    fix="auth.allow_anonymous: false to require a credential on every /v1 request",
)
def anonymous_v1(s: Settings, env: Env) -> Iterable[str]:
    if s.auth.allow_anonymous:
        yield (
            "anonymous mode is ON: /v1 requests with no credential pass as 'anonymous' "
            "(a wrong credential is still a 401; send none to be anonymous)"
        )


@warning("portal.anonymous", fix="portal.allow_anonymous: false outside development")
def anonymous_portal(s: Settings, env: Env) -> Iterable[str]:
    if s.portal.enabled and s.portal.allow_anonymous:
        yield (
            "portal.allow_anonymous is on: anyone who can reach /portal/ sees the audit log and config "
            "(development only)"
        )


@warning("audit", "off", fix="audit.enabled: true with a database.url")
def audit_off_with_portal(s: Settings, env: Env) -> Iterable[str]:
    if not s.audit.enabled and s.portal.enabled:
        yield "audit.enabled is false: requests are not recorded and the portal's audit pages stay empty"


@warning("audit", "sqlite_workers", fix="use PostgreSQL for several workers or replicas (docs/deployment.md)")
def sqlite_with_workers(s: Settings, env: Env) -> Iterable[str]:
    if s.audit.enabled and s.database.url.startswith("sqlite") and s.server.workers > 1:
        yield f"{s.server.workers} workers share one SQLite file: writes queue behind one lock"


@warning("portal.cookie_secret", "placeholder", fix=NEW_COOKIE_SECRET, breaks=True)
def cookie_secret_placeholder(s: Settings, env: Env) -> Iterable[str]:
    if s.portal.enabled and s.portal.cookie_secret in SHIPPED_SECRETS:
        yield "portal.cookie_secret is the example placeholder: anyone can forge a portal session"


@warning("portal.cookie_secret", "strength", fix="use 32 or more: " + NEW_COOKIE_SECRET)
def cookie_secret_strength(s: Settings, env: Env) -> Iterable[str]:
    size = len(s.portal.cookie_secret.encode())
    placeholder = s.portal.cookie_secret in SHIPPED_SECRETS
    if s.portal.enabled and not placeholder and MIN_COOKIE_SECRET_BYTES <= size < GOOD_COOKIE_SECRET_BYTES:
        yield f"portal.cookie_secret is only {size} bytes"


COOKIE_OVER_HTTP = (
    "portal.cookie_secure is on but server.base_url is http://: browsers will not send the session cookie back "
    "over plain HTTP"
)


@warning(
    "portal.cookie_secure",
    "plain_http",
    fix="serve https (or terminate TLS in front and set server.base_url to the https URL), "
    "or portal.cookie_secure: false",
    breaks=True,
)
def cookie_secure_over_http(s: Settings, env: Env) -> Iterable[str]:
    if _cookie_over_http(s) and not _local_base_url(s):
        yield f"{COOKIE_OVER_HTTP} ({s.server.base_url}), so every portal request after sign-in is 401"


@warning(
    "portal.cookie_secure",
    "localhost",
    fix="portal.cookie_secure: false for plain-http development, or serve https",
)
def cookie_secure_on_localhost(s: Settings, env: Env) -> Iterable[str]:
    if _cookie_over_http(s) and _local_base_url(s):
        yield f"{COOKIE_OVER_HTTP} ({s.server.base_url}), except those that treat localhost as secure"


@warning("portal.cookie_secure", "off_on_https", fix="portal.cookie_secure: true")
def cookie_insecure_on_https(s: Settings, env: Env) -> Iterable[str]:
    if s.portal.enabled and not s.portal.cookie_secure and urlsplit(s.server.base_url).scheme == "https":
        yield "base_url is https but cookie_secure is off: the session cookie may also travel over plain http"


@warning(
    "server.base_url",
    "localhost",
    fix="set server.base_url (APITEST_BASE_URL) to the URL others reach this server at",
)
def base_url_localhost_on_all_interfaces(s: Settings, env: Env) -> Iterable[str]:
    if _local_base_url(s) and s.listen_host() in ALL_INTERFACES:
        yield (
            f"base_url {s.server.base_url} points at localhost while listening on all interfaces "
            f"({s.server.address}): a gateway on another host or in a container gets OpenAPI servers, "
            "the protected-resource URL and OIDC redirects pointing at itself"
        )


@warning(
    "server.base_url",
    "port",
    fix="make server.base_url and server.address agree (or leave base_url empty to derive it)",
)
def base_url_port(s: Settings, env: Env) -> Iterable[str]:
    parts = urlsplit(s.server.base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    local = _local_base_url(s) and s.listen_host() not in ALL_INTERFACES
    if local and port != s.listen_port():
        yield f"base_url {s.server.base_url} uses port {port} but the server listens on {s.listen_port()}"


WARNINGS: tuple[Rule, ...] = (
    anonymous_v1,
    anonymous_portal,
    audit_off_with_portal,
    sqlite_with_workers,
    cookie_secret_placeholder,
    cookie_secret_strength,
    cookie_secure_over_http,
    cookie_secure_on_localhost,
    cookie_insecure_on_https,
    base_url_localhost_on_all_interfaces,
    base_url_port,
)
