"""Checks that need only the configuration and the environment (no network).

The configuration rules themselves live in :mod:`apitest.config.rules` (declared once, shared with
validation and the portal's boot warnings); this module reports each rule's findings under the check named
by the rule's key, or that check's pass line.
"""

from __future__ import annotations

from collections.abc import Callable

from apitest.config import Settings, rules
from apitest.config.rule import Finding
from apitest.config.shipped import SHIPPED_SECRETS
from apitest.doctor.core import Check, Context, Result, fail, ok, skip, warn

# Values the shipped example profiles fall back to: anyone who has read them knows them.
PLACEHOLDERS = SHIPPED_SECRETS

# Fixes for the problems the loader finds before the rules run (unknown keys, shipped secrets).
LOADER_FIXES: tuple[tuple[str, str], ...] = (
    ("unknown key", "fix the spelling; docs/configuration.md lists every key"),
    ("is a default shipped in configs/", "make dev-secrets writes random values to .env.dev; `source .env.dev`"),
)


def config_fix(problem: str, path: str) -> str:
    for prefix, fix in LOADER_FIXES:
        if prefix in problem:
            return fix
    return f"edit {path}; docs/configuration.md lists every key with its type and default"


def _result(check: str, finding: Finding, path: str) -> Result:
    fix = finding.rule.fix or config_fix(finding.message, path)
    return fail(check, finding.message, fix) if finding.fails else warn(check, finding.message, fix)


async def check_config(ctx: Context) -> list[Result]:
    if ctx.load_error is not None:
        return [
            fail("config", ctx.load_error, "check the path given to --config and the YAML syntax at the line shown")
        ]
    if not ctx.problems:
        return [ok("config", f"{ctx.config_path} is valid")]
    assert ctx.settings is not None
    fixes = {f.message: f.rule.fix for f in rules.findings(ctx.settings, ctx.environ, severity="error")}
    return [fail("config", p, fixes.get(p) or config_fix(p, ctx.config_path)) for p in ctx.problems]


RULE_CHECKS: set[str] = set()  # the keys that have a check of their own (the rest: check_other_rules)


def rule_check(key: str, passed: Callable[[Settings], str] | None) -> Check:
    """The doctor check ``key``: every rule finding about it, else its pass line (``passed`` None: no line)."""
    RULE_CHECKS.add(key)

    async def check(ctx: Context) -> list[Result]:
        s = ctx.settings
        if s is None:
            return [skip(key, "config not loaded")] if passed else []
        found = [f for f in rules.findings(s, ctx.environ) if f.rule.key == key]
        if found:
            return [_result(key, f, ctx.config_path) for f in found]
        return [ok(key, passed(s))] if passed else []

    check.__name__ = "check_" + key.replace(".", "_")
    return check


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


def _audit_passed(s: Settings) -> str:
    if not s.audit.enabled:
        return "audit log off"
    return f"audit log on (buffer {s.audit.buffer_size}, batch {s.audit.batch_size})"


def _cookie_secret_passed(s: Settings) -> str:
    if not s.portal.enabled:
        return "portal off"
    return f"portal.cookie_secret set ({len(s.portal.cookie_secret.encode())} bytes)"


def _cookie_secure_passed(s: Settings) -> str:
    if not s.portal.enabled:
        return "portal off"
    scheme = s.server.base_url.partition(":")[0]
    return f"cookie_secure={str(s.portal.cookie_secure).lower()} fits {scheme}://"


_check_auth_anonymous = rule_check(
    "auth.anonymous", lambda s: "anonymous mode is off: every /v1 request needs a credential"
)
_check_portal_anonymous = rule_check("portal.anonymous", None)


async def check_anonymous(ctx: Context) -> list[Result]:
    return await _check_auth_anonymous(ctx) + await _check_portal_anonymous(ctx)


check_audit = rule_check("audit", _audit_passed)
check_portal_cookie = rule_check("portal.cookie_secret", _cookie_secret_passed)
check_cookie_secure = rule_check("portal.cookie_secure", _cookie_secure_passed)
check_base_url = rule_check(
    "server.base_url", lambda s: f"base_url {s.server.base_url} (listening on {s.server.address})"
)


async def check_other_rules(ctx: Context) -> list[Result]:
    """Warnings of rules whose key has no check of its own (errors are all listed under ``config``)."""
    if ctx.settings is None:
        return []
    found = rules.findings(ctx.settings, ctx.environ, severity="warning")
    return [_result(f.rule.key, f, ctx.config_path) for f in found if f.rule.key not in RULE_CHECKS]


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
