"""Checks that need only the configuration and the environment (no network)."""

from __future__ import annotations

from urllib.parse import urlsplit

from apitest.config.shipped import SHIPPED_SECRETS
from apitest.config.validate import MIN_COOKIE_SECRET_BYTES
from apitest.doctor.core import Context, Result, fail, ok, skip, warn

# Values the shipped example profiles fall back to: anyone who has read them knows them.
PLACEHOLDERS = SHIPPED_SECRETS
GOOD_COOKIE_SECRET_BYTES = 32
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
ALL_INTERFACES = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - recognising them, not binding

# Fixes for the validation messages of apitest/config/validate.py, by the message's first words.
CONFIG_FIXES: tuple[tuple[str, str], ...] = (
    (
        "audit.enabled is true but database.url is empty",
        "set database.url (or APITEST_DB_URL), or audit.enabled: false",
    ),
    ("portal.cookie_secret is required", "export APITEST_COOKIE_SECRET=$(openssl rand -base64 48) (make dev-secrets)"),
    ("portal.cookie_secret is too short", "use at least 32 random bytes: openssl rand -base64 48"),
    (
        "oidc.issuer is required",
        "set oidc.issuer (APITEST_OIDC_ISSUER) to the IdP's issuer URL, or oidc.enabled: false",
    ),
    ("oidc.skip_signature_verification", "turn it off; it is for local experiments only (APITEST_INSECURE=1)"),
    ("no inbound auth method", "add api_keys.file, bearer.tokens, api_keys.db or oidc, or auth.allow_anonymous: true"),
    ("unknown key", "fix the spelling; docs/configuration.md lists every key"),
    ("is a default shipped in configs/", "make dev-secrets writes random values to .env.dev; `source .env.dev`"),
)


def config_fix(problem: str, path: str) -> str:
    for prefix, fix in CONFIG_FIXES:
        if prefix in problem:
            return fix
    return f"edit {path}; docs/configuration.md lists every key with its type and default"


async def check_config(ctx: Context) -> list[Result]:
    if ctx.load_error is not None:
        return [
            fail("config", ctx.load_error, "check the path given to --config and the YAML syntax at the line shown")
        ]
    if ctx.problems:
        return [fail("config", p, config_fix(p, ctx.config_path)) for p in ctx.problems]
    return [ok("config", f"{ctx.config_path} is valid")]


def keys_using(ctx: Context, var: str) -> list[str]:
    assert ctx.settings is not None
    return sorted(
        k for k, src in ctx.settings.meta.sources.items() if src.startswith("${") and var in src[2:-1].split(",")
    )


async def check_env(ctx: Context) -> list[Result]:
    if ctx.settings is None:
        return [skip("config.env", "config not loaded")]
    results = []
    for var in ctx.settings.meta.unset_vars:
        used_by = ", ".join(keys_using(ctx, var)) or "a key"
        results.append(
            warn(
                "config.env",
                f"${{{var}}} is referenced by {used_by} without a default and is not set: the value is empty",
                f"export {var}=... (make dev-secrets writes .env.dev; `source .env.dev`), or write ${{{var}:-default}}",
            )
        )
    return results or [ok("config.env", "every ${VAR} the file references is set or has a default")]


async def check_credentials(ctx: Context) -> list[Result]:
    s = ctx.settings
    if s is None:
        return [skip("auth.credentials", "config not loaded")]
    results: list[Result] = []
    entries = [(f"api_keys.file[{i}]", k.name, k.key) for i, k in enumerate(s.api_keys.file)]
    entries += [(f"bearer.tokens[{i}]", t.name, t.token) for i, t in enumerate(s.bearer.tokens)]
    for where, name, value in entries:
        source = s.meta.sources.get(f"{where}.key" if where.startswith("api") else f"{where}.token", "file")
        if not value:
            results.append(
                fail(
                    "auth.credentials",
                    f"{where} ({name}) is empty (from {source}): no request can match it, so callers get 401",
                    "set the variable it reads (make dev-secrets; source .env.dev) or remove the entry",
                )
            )
        elif value in PLACEHOLDERS:
            results.append(
                warn(
                    "auth.credentials",
                    f"{where} ({name}) is the example placeholder {value!r}: anyone who read the example can call",
                    "set a random value: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
                )
            )
    if not results:
        results.append(ok("auth.credentials", f"{len(entries)} file key(s) and bearer token(s), none empty"))
    return results


async def check_anonymous(ctx: Context) -> list[Result]:
    s = ctx.settings
    if s is None:
        return [skip("auth.anonymous", "config not loaded")]
    results = []
    if s.auth.allow_anonymous:
        results.append(
            warn(
                "auth.anonymous",
                "anonymous mode is ON: /v1 requests with no credential pass as 'anonymous' "
                "(a wrong credential is still a 401; send none to be anonymous)",
                "auth.allow_anonymous: false to require a credential on every /v1 request",
            )
        )
    else:
        results.append(ok("auth.anonymous", "anonymous mode is off: every /v1 request needs a credential"))
    if s.portal.enabled and s.portal.allow_anonymous:
        results.append(
            warn(
                "portal.anonymous",
                "portal.allow_anonymous is on: anyone who can reach /portal/ sees the audit log and config",
                "portal.allow_anonymous: false outside development",
            )
        )
    return results


async def check_audit(ctx: Context) -> list[Result]:
    s = ctx.settings
    if s is None:
        return [skip("audit", "config not loaded")]
    if s.audit.enabled and not s.database.url.strip():
        return [
            fail(
                "audit",
                "audit.enabled is true but database.url is empty: the server refuses to start",
                "set database.url (sqlite+aiosqlite:///data/apitest.db for one process, postgresql+asyncpg://... "
                "for several workers or replicas), or audit.enabled: false",
            )
        ]
    if not s.audit.enabled:
        if s.portal.enabled:
            return [
                warn(
                    "audit",
                    "audit.enabled is false: requests are not recorded and the portal's audit pages stay empty",
                    "audit.enabled: true with a database.url",
                )
            ]
        return [ok("audit", "audit log off")]
    results = [ok("audit", f"audit log on (buffer {s.audit.buffer_size}, batch {s.audit.batch_size})")]
    if s.database.url.startswith("sqlite") and s.server.workers > 1:
        results.append(
            warn(
                "audit",
                f"{s.server.workers} workers share one SQLite file: writes queue behind one lock",
                "use PostgreSQL for several workers or replicas (docs/deployment.md)",
            )
        )
    return results


async def check_portal_cookie(ctx: Context) -> list[Result]:
    s = ctx.settings
    if s is None:
        return [skip("portal.cookie_secret", "config not loaded")]
    if not s.portal.enabled:
        return [ok("portal.cookie_secret", "portal off")]
    secret = s.portal.cookie_secret
    size = len(secret.encode())
    gen = "export APITEST_COOKIE_SECRET=$(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
    if not secret:
        return [fail("portal.cookie_secret", "portal.cookie_secret is empty: the portal cannot sign sessions", gen)]
    if size < MIN_COOKIE_SECRET_BYTES:
        return [fail("portal.cookie_secret", f"portal.cookie_secret is {size} bytes (need >= 16)", gen)]
    if secret in PLACEHOLDERS:
        return [
            fail(
                "portal.cookie_secret",
                "portal.cookie_secret is the example placeholder: anyone can forge a portal session",
                gen,
            )
        ]
    if size < GOOD_COOKIE_SECRET_BYTES:
        return [warn("portal.cookie_secret", f"portal.cookie_secret is only {size} bytes", "use 32 or more: " + gen)]
    return [ok("portal.cookie_secret", f"portal.cookie_secret set ({size} bytes)")]


async def check_cookie_secure(ctx: Context) -> list[Result]:
    s = ctx.settings
    if s is None:
        return [skip("portal.cookie_secure", "config not loaded")]
    if not s.portal.enabled:
        return [ok("portal.cookie_secure", "portal off")]
    parts = urlsplit(s.server.base_url)
    if s.portal.cookie_secure and parts.scheme == "http":
        if (parts.hostname or "") in LOOPBACK_HOSTS:
            return [
                warn(
                    "portal.cookie_secure",
                    f"cookie_secure is on with {s.server.base_url}: only browsers that treat localhost as secure "
                    "send the cookie back",
                    "portal.cookie_secure: false for plain-http development, or serve https",
                )
            ]
        return [
            fail(
                "portal.cookie_secure",
                f"cookie_secure is on but base_url {s.server.base_url} is http: browsers will not send the session "
                "cookie back, so every portal request after sign-in is 401",
                "serve https (or terminate TLS in front and set server.base_url to the https URL), "
                "or portal.cookie_secure: false",
            )
        ]
    if not s.portal.cookie_secure and parts.scheme == "https":
        return [
            warn(
                "portal.cookie_secure",
                "base_url is https but cookie_secure is off: the session cookie may also travel over plain http",
                "portal.cookie_secure: true",
            )
        ]
    return [ok("portal.cookie_secure", f"cookie_secure={str(s.portal.cookie_secure).lower()} fits {parts.scheme}://")]


async def check_base_url(ctx: Context) -> list[Result]:
    s = ctx.settings
    if s is None:
        return [skip("server.base_url", "config not loaded")]
    parts = urlsplit(s.server.base_url)
    host = parts.hostname or ""
    listen = s.listen_host()
    if host in LOOPBACK_HOSTS and listen in ALL_INTERFACES:
        return [
            warn(
                "server.base_url",
                f"base_url {s.server.base_url} points at localhost while listening on all interfaces "
                f"({s.server.address}): a gateway on another host or in a container gets OpenAPI servers, "
                "the protected-resource URL and OIDC redirects pointing at itself",
                "set server.base_url (APITEST_BASE_URL) to the URL others reach this server at",
            )
        ]
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if host in LOOPBACK_HOSTS and port != s.listen_port():
        return [
            warn(
                "server.base_url",
                f"base_url {s.server.base_url} uses port {port} but the server listens on {s.listen_port()}",
                "make server.base_url and server.address agree (or leave base_url empty to derive it)",
            )
        ]
    return [ok("server.base_url", f"base_url {s.server.base_url} (listening on {s.server.address})")]


PORTAL_TEMPLATES = ("base.html", "login.html", "dashboard.html")


def _missing_portal_files() -> tuple[str, list[str]]:
    from apitest.portal import render

    missing = [name for name in PORTAL_TEMPLATES if not (render.TEMPLATES_DIR / name).is_file()]
    if not render.STATIC_DIR.is_dir():
        missing.append(str(render.STATIC_DIR))
    return str(render.TEMPLATES_DIR), missing


async def check_portal_files(ctx: Context) -> list[Result]:
    s = ctx.settings
    if s is None or not s.portal.enabled:
        return []
    where, missing = _missing_portal_files()
    if missing:
        return [
            fail(
                "portal.templates",
                f"the portal's templates are not where it looks ({where}; missing {', '.join(missing)}): "
                "every /portal/ page would fail",
                "set APITEST_TEMPLATES_DIR to the templates/ directory (the image sets /app/templates), "
                "or run from the source tree",
            )
        ]
    return [ok("portal.templates", f"portal templates found in {where}")]
