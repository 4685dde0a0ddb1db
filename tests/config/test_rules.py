"""The configuration rules, each with settings it refuses (or warns about) and settings it lets pass."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from apitest.config import Settings
from apitest.config.loader import inspect_settings
from apitest.config.model import FileKey
from apitest.config.rules import RULES, boot_warnings, findings
from apitest.config.validate import validate
from tests.support import deep_merge

SECRET = "k" * 48
BASE: dict[str, Any] = {
    "server": {"address": "127.0.0.1:8080"},
    "api_keys": {"file": [{"name": "ops", "key": "rules-test-key-0123456789"}]},
}
PORTAL: dict[str, Any] = {"portal": {"enabled": True, "cookie_secret": SECRET}}
AUDIT: dict[str, Any] = {"audit": {"enabled": True}, "database": {"url": "sqlite+aiosqlite:///rules.db"}}


def load(overrides: dict[str, Any], environ: dict[str, str] | None = None) -> Settings:
    """BASE with ``overrides`` merged in, unvalidated; dotted keys (``"server.workers"``) are set on the
    loaded settings, for values the file format cannot express."""
    nested = {k: v for k, v in overrides.items() if "." not in k}
    settings, _ = inspect_settings(text=yaml.safe_dump(deep_merge(BASE, nested)), environ=environ or {})
    for dotted, value in overrides.items():
        if "." in dotted:
            *path, name = dotted.split(".")
            setattr(functools.reduce(getattr, path, settings), name, value)
    return settings


@dataclass(frozen=True)
class Case:
    rule: str
    bad: dict[str, Any]
    needle: str
    good: dict[str, Any] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)


CASES = [
    Case("audit.database", {"audit": {"enabled": True}}, "audit.enabled is true but database.url is empty", AUDIT),
    Case(
        "api_keys.db.database",
        {"api_keys": {"db": {"enabled": True}}},
        "api_keys.db.enabled is true but database.url is empty",
        {"api_keys": {"db": {"enabled": True}}, **AUDIT},
    ),
    Case("database.url.scheme", {"database": {"url": "mysql://x/y"}}, "unsupported scheme 'mysql'", AUDIT),
    Case(
        "portal.cookie_secret.required",
        {"portal": {"enabled": True, "cookie_secret": ""}},
        "session store: portal.cookie_secret is empty",
        PORTAL,
    ),
    Case(
        "portal.cookie_secret.length",
        {"portal": {"enabled": True, "cookie_secret": "short"}},
        "portal.cookie_secret is too short: 5 bytes (need >= 16 bytes)",
        {"portal": {"enabled": True, "cookie_secret": "x" * 16}},
    ),
    Case(
        "oidc.issuer.required",
        {"oidc": {"enabled": True}},
        "oidc.issuer is required",
        {"oidc": {"enabled": True, "issuer": "https://idp.example"}},
    ),
    Case(
        "oidc.issuer.url",
        {"oidc": {"issuer": "idp.example"}},
        "oidc.issuer must be an http(s) URL",
        {"oidc": {"issuer": "http://idp.example"}},
    ),
    Case(
        "oidc.skip_signature_verification",
        {"oidc": {"skip_signature_verification": True}},
        "requires APITEST_INSECURE=1",
    ),
    Case(
        "oidc.algorithms",
        {"oidc": {"algorithms": ["RS256", "HS256", "none"]}},
        "not allowed: HS256, none",
        {"oidc": {"algorithms": ["RS256", "ES256"]}},
    ),
    Case(
        "auth.method",
        {"api_keys": {"file": []}},
        "no inbound auth method enabled",
        {"api_keys": {"file": []}, "auth": {"allow_anonymous": True}},
    ),
    Case("api_keys.file.name", {"api_keys.file": [FileKey(name="", key="k")]}, "api_keys.file[0].name is required"),
    Case(
        "bearer.tokens.name", {"bearer": {"tokens": [{"name": "", "token": "t"}]}}, "bearer.tokens[0].name is required"
    ),
    Case("api_keys.header_name", {"api_keys": {"header_name": " "}}, "api_keys.header_name must not be empty"),
    Case(
        "plexara.register.admin_url",
        {"plexara": {"register": {"enabled": True}}},
        "plexara.register.admin_url is required",
        {"plexara": {"register": {"enabled": True, "admin_url": "http://plexara:9000"}}},
    ),
    Case(
        "server.address",
        {"server.address": "127.0.0.1:http"},
        "server.address must be host:port or :port",
        {"server.address": ":9000"},
    ),
    Case("server.base_url", {"server": {"base_url": "ftp://x"}}, "server.base_url must be an http(s) URL"),
    Case(
        "server.tls.files",
        {"server": {"tls": {"enabled": True}}},
        "server.tls.enabled needs server.tls.cert_file",
        {"server": {"tls": {"enabled": True, "cert_file": "c.pem", "key_file": "k.pem"}}},
    ),
    Case(
        "tls_lab.dir",
        {"tls_lab": {"enabled": True, "dir": " "}},
        "tls_lab.dir must name the dev CA directory",
        {"tls_lab": {"enabled": True}},
    ),
    Case(
        "tls_lab.hosts",
        {"tls_lab": {"enabled": True, "hosts": [" "]}},
        "tls_lab.hosts must name at least one host",
        {"tls_lab": {"enabled": True, "hosts": ["localhost"]}},
    ),
    Case(
        "tls_lab.ports",
        {"tls_lab": {"enabled": True, "ports": {"valid": 8443, "expired": 8443}}},
        "tls_lab.ports.expired 8443 is also tls_lab.ports.valid",
        {"tls_lab": {"enabled": True, "ports": {"valid": 8443, "expired": 8444}}},
    ),
    Case("audit.scope", {"audit.scope": "some"}, "audit.scope must be v1 or all, got 'some'", {"audit.scope": "all"}),
    Case(
        "rate_limit.groups",
        {"rate_limit.groups": {"nope": 5, "httpbin": 0}},
        "unknown group 'nope'",
        {"rate_limit.groups": {"httpbin": 5}},
    ),
    Case(
        "server.cors.allowed_origins",
        {"server": {"cors": {"allowed_origins": ["gw.example"]}}},
        "'gw.example' is not '*' or an http(s) origin",
        {"server": {"cors": {"allowed_origins": ["*", "https://gw.example"]}}},
    ),
    Case(
        "server.trusted_proxies",
        {"server": {"trusted_proxies": ["gateway"]}},
        "'gateway' is not an IP address or CIDR",
        {"server": {"trusted_proxies": ["10.0.0.0/8", "::1"]}},
    ),
    Case(
        "portal.allowed_hosts",
        {"portal": {"allowed_hosts": ["bad host"]}},
        "'bad host' is not a host name or address",
        {"portal": {"allowed_hosts": ["portal.example", "[::1]:8080"]}},
    ),
    Case(
        "portal.oidc_redirect_path",
        {"portal": {"oidc_redirect_path": "callback"}},
        "portal.oidc_redirect_path must start with '/'",
    ),
    Case(
        "webhooks.database",
        {"webhooks": {"enabled": True}},
        "webhooks.enabled is true but database.url is empty",
        {"webhooks": {"enabled": True}, **AUDIT},
    ),
    Case(
        "webhooks.signature_scheme",
        {"webhooks": {"signature_scheme": "github"}},
        "webhooks.signature_scheme must be one of standard, stripe, got 'github'",
        {"webhooks": {"signature_scheme": "stripe"}},
    ),
    Case(
        "webhooks.backoff_max",
        {"webhooks.backoff_base": 5.0, "webhooks.backoff_max": 1.0},
        "webhooks.backoff_max must be >= webhooks.backoff_base",
    ),
    Case("webhooks.jitter", {"webhooks.jitter": 1.5}, "webhooks.jitter must be between 0 and 1, got 1.5"),
    Case(
        "webhooks.subscriptions",
        {
            "webhooks": {
                "subscriptions": [
                    {"name": "a", "url": "http://r/a", "secret": "s"},
                    {"name": "a", "url": "r/b", "secret": "", "scheme": "github"},
                ]
            }
        },
        "webhooks.subscriptions[1].name 'a' is used twice",
        {"webhooks": {"subscriptions": [{"name": "a", "url": "http://r/a", "secret": "s"}]}},
    ),
    Case("auth.anonymous", {"auth": {"allow_anonymous": True}}, "anonymous mode is ON"),
    Case(
        "portal.anonymous",
        {"portal": {**PORTAL["portal"], "allow_anonymous": True}},
        "anyone who can reach /portal/",
        PORTAL,
    ),
    Case("audit.off", PORTAL, "audit pages stay empty", {**PORTAL, **AUDIT}),
    Case("audit.sqlite_workers", {**AUDIT, "server.workers": 2}, "2 workers share one SQLite file", AUDIT),
    Case(
        "portal.cookie_secret.placeholder",
        {"portal": {"enabled": True, "cookie_secret": "change-me-to-a-long-random-secret"}},
        "anyone can forge a portal session",
        PORTAL,
    ),
    Case(
        "portal.cookie_secret.strength",
        {"portal": {"enabled": True, "cookie_secret": "x" * 20}},
        "portal.cookie_secret is only 20 bytes",
        {"portal": {"enabled": True, "cookie_secret": "x" * 32}},
    ),
    Case(
        "portal.cookie_secure.plain_http",
        {"server": {"base_url": "http://gw.internal:8080"}, "portal": {**PORTAL["portal"], "cookie_secure": True}},
        "browsers will not send the session cookie back",
        {"server": {"base_url": "https://gw.internal"}, "portal": {**PORTAL["portal"], "cookie_secure": True}},
    ),
    Case(
        "portal.cookie_secure.localhost",
        {"portal": {**PORTAL["portal"], "cookie_secure": True}},
        "treat localhost as secure",
        PORTAL,
    ),
    Case(
        "portal.cookie_secure.off_on_https",
        {"server": {"base_url": "https://gw.example"}, **PORTAL},
        "the session cookie may also travel over plain http",
        {"server": {"base_url": "https://gw.example"}, "portal": {**PORTAL["portal"], "cookie_secure": True}},
    ),
    Case(
        "server.base_url.localhost",
        {"server": {"address": ":8080"}},
        "points at localhost while listening on all interfaces",
        {"server": {"address": ":8080", "base_url": "https://api-test.example"}},
    ),
    Case(
        "server.base_url.port",
        {"server": {"address": "127.0.0.1:9000", "base_url": "http://localhost:8080"}},
        "uses port 8080 but the server listens on 9000",
        {"server": {"address": "127.0.0.1:9000"}},
    ),
]
BY_ID = {rule.id: rule for rule in RULES}
MINIMUMS = [rule for rule in RULES if rule.id.endswith(".minimum")]


def test_rule_ids_are_unique_and_every_rule_has_a_case() -> None:
    assert len(BY_ID) == len(RULES)
    covered = {case.rule for case in CASES} | {rule.id for rule in MINIMUMS}
    assert covered == set(BY_ID)


def test_base_settings_break_no_rule() -> None:
    assert findings(load({})) == []


@pytest.mark.parametrize("case", CASES, ids=[case.rule for case in CASES])
def test_rule(case: Case) -> None:
    rule = BY_ID[case.rule]
    bad = load(case.bad, case.environ)
    messages = [f.message for f in rule.findings(bad, case.environ)]
    assert any(case.needle in m for m in messages), messages
    refused = validate(bad, case.environ)
    if rule.severity == "error":
        assert set(messages) <= set(refused)
    else:
        assert not set(messages) & set(refused)  # a warning never refuses the configuration
    assert rule.findings(load(case.good, case.environ), case.environ) == []


@pytest.mark.parametrize("rule", MINIMUMS, ids=[rule.id for rule in MINIMUMS])
def test_minimum_rule(rule: Any) -> None:
    assert rule.findings(load({rule.key: -1}), {})[0].message.startswith(f"{rule.key} must be >= ")
    assert rule.findings(load({rule.key: 1000}), {}) == []


def test_insecure_environment_allows_skipping_signatures() -> None:
    settings = load({"oidc": {"skip_signature_verification": True}})
    assert BY_ID["oidc.skip_signature_verification"].findings(settings, {"APITEST_INSECURE": "1"}) == []


def test_validation_reports_every_error_in_rule_order() -> None:
    bad = load({"audit": {"enabled": True}, "api_keys": {"file": [], "header_name": ""}, "server.workers": 0})
    assert [m.split(" ")[0] for m in validate(bad, {})] == [
        "audit.enabled",
        "no",
        "api_keys.header_name",
        "server.workers",
    ]


def test_boot_warnings_are_the_portal_warnings() -> None:
    settings = load({"auth": {"allow_anonymous": True}, "portal": {**PORTAL["portal"], "allow_anonymous": True}})
    assert [f.rule.id for f in boot_warnings(settings)] == ["portal.anonymous"]
    assert {f.rule.id for f in findings(settings)} == {"auth.anonymous", "portal.anonymous", "audit.off"}


@pytest.mark.parametrize(
    ("base_url", "rule"),
    [
        ("http://localhost:8080", "portal.cookie_secure.localhost"),
        ("http://[::1]:8080", "portal.cookie_secure.localhost"),
        ("http://127.0.0.2:8080", "portal.cookie_secure.localhost"),
        ("http://10.0.0.5:8080", "portal.cookie_secure.plain_http"),
        ("http://localhost.example:8080", "portal.cookie_secure.plain_http"),
    ],
)
def test_a_secure_cookie_over_http_breaks_sign_in_except_on_loopback(base_url: str, rule: str) -> None:
    settings = load({"server": {"base_url": base_url}, "portal": {**PORTAL["portal"], "cookie_secure": True}})
    found = [f for f in findings(settings) if f.rule.key == "portal.cookie_secure"]
    assert [f.rule.id for f in found] == [rule]
    assert found[0].fails == (rule == "portal.cookie_secure.plain_http")
