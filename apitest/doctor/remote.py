"""Checks that talk to something: the database, the OIDC provider, a running apitest.

References:
  - OpenID Connect Discovery 1.0, section 4.3 (the issuer must be identical to the configured one)
  - RFC 7517 (JWK ``kty``, ``use``, ``alg``, ``crv``), RFC 7518 section 3.1 (JWS algorithms)
  - RFC 9110 section 6.6.1 (the ``Date`` header, one-second resolution)
"""

from __future__ import annotations

import asyncio
import email.utils
import re
from typing import Any

import httpx

from apitest.config.effective import mask_database_url
from apitest.doctor.core import Context, Result, fail, ok, skip, warn

SKEW_WARN_SECONDS = 5.0
DATE_RESOLUTION = 1.0  # HTTP dates carry whole seconds
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


async def check_database(ctx: Context) -> list[Result]:
    s = ctx.settings
    if s is None:
        return [skip("database", "config not loaded")]
    url = s.database.url.strip()
    if not url:
        return [ok("database", "no database configured (audit log and database keys need one)")]
    from apitest.db.engine import Database, DatabaseError, head_revision

    shown = mask_database_url(url)
    try:
        database = Database.from_settings(s)
    except Exception as exc:
        return [fail("database", f"cannot use database.url {shown}: {exc}", "check the URL's scheme and syntax")]
    try:
        try:
            await asyncio.wait_for(database.ping(), ctx.timeout)
        except (DatabaseError, TimeoutError) as exc:
            reason = short_error(str(exc)) if isinstance(exc, DatabaseError) else f"no answer within {ctx.timeout:g}s"
            return [fail("database", f"database unreachable: {reason}", database_fix(str(exc), shown))]
        current = await database.revision()
    finally:
        await database.dispose()
    head = head_revision()
    results = [ok("database", f"{shown} reachable ({database.dialect})")]
    if current == head:
        results.append(ok("database.migrations", f"schema at the newest revision {head}"))
    elif current is not None and not _known_revision(current):
        results.append(
            fail(
                "database.migrations",
                f"the database is at revision {current}, unknown to this apitest (a newer version migrated it)",
                "run the apitest version that migrated it, or point database.url at another database",
            )
        )
    elif s.database.migrate_on_boot:
        results.append(
            warn(
                "database.migrations",
                f"schema at {current or 'nothing'}, newest is {head}: the server migrates it at boot",
                f"or now: apitest migrate --config {ctx.config_path}",
            )
        )
    else:
        results.append(
            fail(
                "database.migrations",
                f"schema at {current or 'nothing'}, newest is {head}, and database.migrate_on_boot is off",
                f"apitest migrate --config {ctx.config_path}",
            )
        )
    return results


def _known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    from apitest.db.engine import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    return any(script.revision == revision for script in scripts.walk_revisions())


def short_error(error: str) -> str:
    """The driver's message without SQLAlchemy's wrapper class and its background link."""
    first = error.strip().splitlines()[0] if error.strip() else error
    return re.sub(r"\(sqlalchemy\.[\w.]+\)\s*", "", first)


def database_fix(error: str, shown: str) -> str:
    text = error.lower()
    if re.search(r'database "[^"]*" does not exist', text):
        return f"create the database: createdb, or CREATE DATABASE, for {shown}"
    if re.search(r'role "[^"]*" does not exist', text):
        return "create that user (CREATE ROLE ... LOGIN PASSWORD ...) or fix the user in database.url (APITEST_DB_URL)"
    if "password" in text or "authentication" in text:
        return "check the user and password in database.url (APITEST_DB_URL)"
    return "start the database (make dev does), or fix host, port and credentials in database.url (APITEST_DB_URL)"


async def _get(ctx: Context, url: str, **kwargs: Any) -> httpx.Response:
    return await ctx.http.get(url, timeout=ctx.timeout, **kwargs)


async def discovery(ctx: Context) -> tuple[dict[str, Any] | None, httpx.Response | None, float, list[Result]]:
    """Fetch the discovery document once; returns it, the response, the local time at mid-request, problems."""
    if "discovery" in ctx.cache:
        cached: tuple[dict[str, Any] | None, httpx.Response | None, float, list[Result]] = ctx.cache["discovery"]
        return cached
    assert ctx.settings is not None
    url = ctx.settings.oidc.issuer.rstrip("/") + "/.well-known/openid-configuration"
    doc: dict[str, Any] | None = None
    response: httpx.Response | None = None
    problems: list[Result] = []
    before = ctx.clock()
    try:
        response = await _get(ctx, url)
    except httpx.HTTPError as exc:
        problems.append(
            fail(
                "oidc.discovery",
                f"cannot fetch {url}: {type(exc).__name__}: {exc}",
                "check oidc.issuer and that the IdP is reachable from this host "
                "(inside a container, localhost is the container itself)",
            )
        )
    midpoint = (before + ctx.clock()) / 2
    if response is not None:
        if response.status_code != 200:
            problems.append(
                fail(
                    "oidc.discovery",
                    f"{url} answered {response.status_code}",
                    "oidc.issuer must be the issuer itself (for Keycloak .../realms/<realm>), without "
                    "/.well-known/openid-configuration",
                )
            )
        else:
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                doc = body
            else:
                problems.append(
                    fail("oidc.discovery", f"{url} did not answer a JSON object", "is this an OIDC issuer?")
                )
    ctx.cache["discovery"] = (doc, response, midpoint, problems)
    return doc, response, midpoint, problems


async def check_oidc(ctx: Context) -> list[Result]:
    s = ctx.settings
    if s is None:
        return [skip("oidc", "config not loaded")]
    if not s.oidc.enabled:
        return [ok("oidc", "OIDC off (no JWT validation, no portal OIDC sign-in)")]
    if not s.oidc.issuer:
        return [fail("oidc", "oidc.enabled but oidc.issuer is empty", "set oidc.issuer (APITEST_OIDC_ISSUER)")]
    doc, response, midpoint, problems = await discovery(ctx)
    if doc is None or response is None:
        return problems
    results = [ok("oidc.discovery", f"discovery document at {response.request.url}")]
    results.append(issuer_result(s.oidc.issuer, doc.get("issuer")))
    results.append(skew_result(response, midpoint, s.oidc.clock_skew_seconds))
    results.extend(await jwks_results(ctx, doc))
    results.extend(client_results(ctx, doc))
    return results


def issuer_result(configured: str, advertised: Any) -> Result:
    if not isinstance(advertised, str) or not advertised:
        return fail("oidc.issuer", "the discovery document has no issuer", "is this an OIDC issuer?")
    if advertised == configured:
        return ok("oidc.issuer", f"issuer {configured!r} matches the discovery document byte for byte")
    hint = ""
    if advertised.rstrip("/") == configured.rstrip("/"):
        hint = " (they differ only by the trailing slash)"
    elif advertised.lower() == configured.lower():
        hint = " (they differ only by letter case)"
    return fail(
        "oidc.issuer",
        f"the IdP says issuer {advertised!r}, oidc.issuer is {configured!r}{hint}: every token's iss is "
        "compared exactly, so every token is rejected (and portal sign-in loops)",
        f"set oidc.issuer: {advertised!r}",
    )


def skew_result(response: httpx.Response, local: float, allowed: int) -> Result:
    header = response.headers.get("date")
    if not header:
        return warn("oidc.clock", "the IdP sent no Date header; clock skew not measured", "compare clocks by hand")
    try:
        remote = email.utils.parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return warn("oidc.clock", f"unreadable Date header {header!r}; clock skew not measured")
    skew = local - remote
    # The header is truncated to the second, so up to one second of apparent skew is rounding.
    beyond = max(0.0, abs(skew) - DATE_RESOLUTION)
    direction = "ahead of" if skew > 0 else "behind"
    text = f"this host's clock is {abs(skew):.1f}s {direction} the IdP's"
    if beyond > allowed:
        return fail(
            "oidc.clock",
            f"{text}, beyond oidc.clock_skew_seconds={allowed}: tokens look expired or not yet valid",
            "synchronise the clocks (NTP: timedatectl set-ntp true, chrony), or raise oidc.clock_skew_seconds",
        )
    if beyond > SKEW_WARN_SECONDS:
        return warn("oidc.clock", f"{text} (allowed {allowed}s)", "synchronise the clocks (NTP)")
    return ok("oidc.clock", f"{text} (allowed {allowed}s)")


def usable_algorithms(key: dict[str, Any], algorithms: list[str]) -> list[str]:
    """The configured algorithms this JWK can verify."""
    if key.get("use", "sig") != "sig":
        return []
    candidates = [key["alg"]] if isinstance(key.get("alg"), str) else algorithms
    usable = []
    for alg in candidates:
        if alg not in algorithms or KEY_TYPES.get(alg[:2]) != key.get("kty"):
            continue
        if alg in CURVES and key.get("crv") != CURVES[alg]:
            continue
        usable.append(alg)
    return usable


def describe_key(key: dict[str, Any]) -> str:
    parts = [str(key.get("kty", "?"))]
    for name in ("crv", "alg", "use", "kid"):
        if key.get(name):
            parts.append(f"{name}={key[name]}")
    return " ".join(parts)


async def jwks_results(ctx: Context, doc: dict[str, Any]) -> list[Result]:
    assert ctx.settings is not None
    algorithms = ctx.settings.oidc.algorithms
    uri = doc.get("jwks_uri")
    if not isinstance(uri, str) or not uri:
        return [fail("oidc.jwks", "the discovery document has no jwks_uri", "is this an OIDC issuer?")]
    try:
        response = await _get(ctx, uri)
        body = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        return [fail("oidc.jwks", f"cannot fetch {uri}: {exc}", "the IdP must serve its keys to this host")]
    if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        status = response.status_code
        return [fail("oidc.jwks", f"{uri} answered {status} without a JWKS", "check the IdP")]
    keys = [k for k in body["keys"] if isinstance(k, dict)]
    usable = {alg for k in keys for alg in usable_algorithms(k, algorithms)}
    results: list[Result] = []
    if not usable:
        shown = ", ".join(describe_key(k) for k in keys) or "none"
        results.append(
            fail(
                "oidc.jwks",
                f"no key at {uri} can verify the configured algorithms {algorithms} (keys: {shown})",
                "add the IdP's signing algorithm to oidc.algorithms (none and HMAC are never accepted), "
                "or give the IdP an RSA or EC signing key",
            )
        )
    else:
        results.append(ok("oidc.jwks", f"{len(keys)} key(s); usable for {', '.join(sorted(usable))}"))
    advertised = doc.get("id_token_signing_alg_values_supported")
    if isinstance(advertised, list) and advertised and not set(advertised) & set(algorithms):
        results.append(
            warn(
                "oidc.jwks",
                f"the IdP signs ID tokens with {advertised}, none of which is in oidc.algorithms {algorithms}",
                "add one of them to oidc.algorithms",
            )
        )
    return results


def client_results(ctx: Context, doc: dict[str, Any]) -> list[Result]:
    s = ctx.settings
    assert s is not None
    results: list[Result] = []
    if not s.oidc.audience:
        results.append(
            warn(
                "oidc.audience",
                "oidc.audience is empty: any token this issuer signs is accepted, whichever API it was meant for",
                "set oidc.audience (Keycloak: an audience mapper adding it, as in dev/keycloak/api-test-realm.json)",
            )
        )
    else:
        results.append(ok("oidc.audience", f"tokens must carry aud {s.oidc.audience!r}"))
    if not s.portal.enabled:
        return results
    missing = [name for name in ("authorization_endpoint", "token_endpoint") if not doc.get(name)]
    redirect = s.server.base_url.rstrip("/") + s.portal.oidc_redirect_path
    if not s.oidc.client_id:
        results.append(
            fail("oidc.portal_client", "oidc.client_id is empty: portal sign-in has no client", "set oidc.client_id")
        )
    elif s.oidc.allowed_clients and s.oidc.client_id not in s.oidc.allowed_clients:
        results.append(
            fail(
                "oidc.portal_client",
                f"oidc.client_id {s.oidc.client_id!r} is not in oidc.allowed_clients {s.oidc.allowed_clients}: "
                "the portal's own ID tokens would be rejected",
                f"add {s.oidc.client_id!r} to oidc.allowed_clients",
            )
        )
    elif missing:
        results.append(
            fail("oidc.portal_client", f"the discovery document lacks {', '.join(missing)}", "check the IdP")
        )
    else:
        results.append(
            ok("oidc.portal_client", f"portal signs in as {s.oidc.client_id!r}; register redirect URI {redirect}")
        )
    return results


METRIC_LINE = re.compile(r"^(apitest_audit_[a-z_]+)(?:\{[^}]*\})? (\S+)$", re.MULTILINE)


async def check_server(ctx: Context) -> list[Result]:
    if not ctx.url:
        return [skip("server", "no --url given: the running server was not probed")]
    base = ctx.url.rstrip("/")
    try:
        health = await _get(ctx, f"{base}/healthz")
    except httpx.HTTPError as exc:
        return [
            fail(
                "server.healthz",
                f"GET {base}/healthz failed: {type(exc).__name__}: {exc}",
                "is apitest running, and is --url the address it listens on (server.address)? A proxy may "
                "also be blocking /healthz",
            )
        ]
    if health.status_code != 200:
        return [
            fail(
                "server.healthz",
                f"GET {base}/healthz answered {health.status_code}",
                "something other than apitest answers at --url, or a proxy blocks /healthz",
            )
        ]
    results = [ok("server.healthz", f"{base}/healthz answered 200")]
    try:
        ready = await _get(ctx, f"{base}/readyz")
        if ready.status_code == 503:
            results.append(warn("server.readyz", "/readyz answers 503: the server is draining (shutting down)"))
        elif ready.status_code == 200:
            results.append(ok("server.readyz", "/readyz answered 200"))
    except httpx.HTTPError:
        pass
    results.extend(await metrics_results(ctx, base))
    return results


async def metrics_results(ctx: Context, base: str) -> list[Result]:
    headers = {}
    if ctx.key:
        header = ctx.settings.api_keys.header_name if ctx.settings else "X-API-Key"
        headers[header] = ctx.key
    try:
        response = await _get(ctx, f"{base}/metrics", headers=headers)
    except httpx.HTTPError as exc:
        return [warn("audit.drops", f"cannot read {base}/metrics: {exc}")]
    if response.status_code in (401, 403):
        return [warn("audit.drops", "/metrics needs a credential (metrics.require_auth)", "pass --key KEY")]
    if response.status_code != 200:
        return [skip("audit.drops", f"/metrics answered {response.status_code} (metrics.enabled off?)")]
    values = {name: float(v) for name, v in METRIC_LINE.findall(response.text)}
    if values.get("apitest_audit_enabled", 0) == 0:
        return [ok("audit.drops", "the running server has no audit log")]
    dropped = values.get("apitest_audit_events_dropped_total", 0)
    errors = values.get("apitest_audit_write_errors_total", 0)
    written = values.get("apitest_audit_events_written_total", 0)
    if dropped > 0:
        return [
            fail(
                "audit.drops",
                f"the audit log dropped {dropped:.0f} event(s) so far ({written:.0f} written, {errors:.0f} write "
                "errors): those requests are missing from the log",
                "look for 'audit write failed' in the server log; if the database is healthy, raise audit.buffer_size",
            )
        ]
    if errors > 0:
        return [
            warn(
                "audit.drops",
                f"no events dropped, but {errors:.0f} audit write attempt(s) failed and were retried",
                "look for 'audit write failed' in the server log",
            )
        ]
    return [ok("audit.drops", f"no audit events dropped ({written:.0f} written)")]
