from __future__ import annotations

import glob

import pytest

from apitest.config import ConfigError, interpolate, load_settings, masked_dict, parse_duration, source_of
from apitest.registry import GROUP_NAMES as GROUPS

MINIMAL = "auth: {allow_anonymous: true}\n"


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("${A}", {}, ""),
        ("${A:-d}", {}, "d"),
        ("${A:-d}", {"A": ""}, ""),  # set-but-empty wins over the default
        ("$A stays", {"A": "x"}, "$A stays"),
        ("pre-${A:-a}-${B:-b}", {"B": "y"}, "pre-a-y"),
        ("${A:-}", {}, ""),
    ],
)
def test_interpolate(text: str, env: dict[str, str], expected: str) -> None:
    assert interpolate(text, env)[0] == expected


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("2s", 2.0), ("1h", 3600.0), ("1h30m", 5400.0), ("250ms", 0.25), (5, 5.0), ("0s", 0.0)],
)
def test_parse_duration(raw: object, seconds: float) -> None:
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize("raw", ["2", "abc", "1d", True, "-1s"])
def test_parse_duration_rejects(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(raw)


def test_defaults() -> None:
    s = load_settings(text=MINIMAL, environ={})
    assert s.server.address == ":8080"
    assert s.server.base_url == "http://localhost:8080"
    assert s.server.shutdown.grace_period == 25.0
    assert s.server.shutdown.pre_shutdown_delay == 2.0
    assert s.audit.buffer_size == 8192
    assert s.audit.batch_size == 2000
    assert s.audit.flush_interval_ms == 200
    assert "authorization" in s.audit.redact_keys
    assert s.portal.cookie_name == "api_test_session"
    assert s.api_keys.header_name == "X-API-Key"
    assert s.enabled_groups() == []
    assert source_of(s, "server.address") == "default"


def test_base_url_follows_address_port() -> None:
    s = load_settings(text=MINIMAL + "server: {address: '127.0.0.1:9123'}\n", environ={})
    assert s.server.base_url == "http://localhost:9123"


def test_base_url_is_https_with_tls() -> None:
    s = load_settings(text=MINIMAL + "server: {address: '127.0.0.1:9123', tls: {dev_ca: true}}\n", environ={})
    assert s.server.base_url == "https://localhost:9123"


def test_values_and_sources() -> None:
    text = MINIMAL + "server:\n  name: x\n  address: '${ADDR:-:9000}'\n  shutdown: {grace_period: 3s}\n"
    s = load_settings(text=text, environ={"APITEST__SERVER__NAME": "from-env"})
    assert s.server.name == "from-env"
    assert source_of(s, "server.name") == "env APITEST__SERVER__NAME"
    assert s.server.address == ":9000"
    assert source_of(s, "server.address") == "${ADDR}"
    assert s.server.shutdown.grace_period == 3.0
    assert source_of(s, "server.shutdown.grace_period") == "file"


def test_env_override_types() -> None:
    env = {
        "APITEST__AUDIT__BUFFER_SIZE": "10",
        "APITEST__AUDIT__ENABLED": "true",
        "APITEST__DATABASE__URL": "sqlite+aiosqlite:///x.db",
        "APITEST__AUDIT__REDACT_KEYS": "[a, b]",
        "APITEST__SERVER__SHUTDOWN__GRACE_PERIOD": "7s",
        "APITEST__RATE_LIMIT__GROUPS": "{lab: 5}",
    }
    s = load_settings(text=MINIMAL, environ=env)
    assert s.audit.buffer_size == 10
    assert s.audit.enabled is True
    assert s.audit.redact_keys == ["a", "b"]
    assert s.server.shutdown.grace_period == 7.0
    assert s.rate_limit.groups == {"lab": 5}


def test_unknown_keys_name_the_closest() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(
            text=MINIMAL + "servr: {}\naudit: {bufer_size: 3}\n", environ={"APITEST__PORTAL__COOKIE_SECRT": "x"}
        )
    problems = err.value.problems
    assert "unknown key 'servr' (did you mean 'server'?)" in problems
    assert "unknown key 'audit.bufer_size' (did you mean 'buffer_size'?)" in problems
    assert any("APITEST__PORTAL__COOKIE_SECRT" in p and "cookie_secret" in p for p in problems)


def test_all_problems_reported_together() -> None:
    text = (
        "audit: {enabled: true, buffer_size: 0, scope: everything}\nportal: {enabled: true}\n"
        "oidc: {enabled: true}\nserver: {workers: x}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_settings(text=text, environ={})
    problems = err.value.problems
    assert any("database.url is empty" in p for p in problems)
    assert any("portal.cookie_secret is required" in p for p in problems)
    assert any("oidc.issuer is required" in p for p in problems)
    assert any("audit.buffer_size must be >= 1" in p for p in problems)
    assert "audit.scope must be v1 or all, got 'everything'" in problems
    assert any("server.workers: expected an integer" in p for p in problems)
    assert str(err.value).startswith("invalid config:\n  - ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{}", "no inbound auth method enabled"),
        (MINIMAL + "portal: {enabled: true, cookie_secret: short}", "portal.cookie_secret is too short"),
        (MINIMAL + "oidc: {skip_signature_verification: true}", "requires APITEST_INSECURE=1"),
        (MINIMAL + "oidc: {algorithms: [HS256]}", "oidc.algorithms: not allowed: HS256"),
        (MINIMAL + "database: {url: 'mysql://x'}", "unsupported scheme"),
        (MINIMAL + "api_keys: {db: {enabled: true}}", "api_keys.db.enabled is true but database.url is empty"),
        (MINIMAL + "plexara: {register: {enabled: true}}", "plexara.register.admin_url is required"),
        (MINIMAL + "server: {address: nope}", "server.address must be host:port"),
        (MINIMAL + "rate_limit: {groups: {nope: 3}}", "unknown group 'nope'"),
        (MINIMAL + "a: 1\na: 2", "duplicate key 'a'"),
        (MINIMAL + "server: [1]", "server: expected a mapping"),
        (MINIMAL + "api_keys: {file: [{key: x}]}", "api_keys.file[0].name is required"),
        (MINIMAL + "server: {tls: {enabled: true}}", "server.tls.enabled needs server.tls.cert_file"),
        (MINIMAL + "tls_lab: {enabled: true, ports: {valid: 8080}}", "tls_lab.ports.valid 8080 is also server.address"),
        (
            MINIMAL + "tls_lab: {enabled: true, ports: {valid: 9443, expired: 9443}}",
            "tls_lab.ports.expired 9443 is also tls_lab.ports.valid",
        ),
        (MINIMAL + "tls_lab: {ports: {valid: 70000}}", "tls_lab.ports.valid must be a port number 0-65535"),
        (MINIMAL + "tls_lab: {enabled: true, hosts: []}", "tls_lab.hosts must name at least one host"),
    ],
)
def test_validation_messages(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(text=text, environ={})
    assert any(message in p for p in err.value.problems), err.value.problems


def test_insecure_gate_allows_skip() -> None:
    s = load_settings(text=MINIMAL + "oidc: {skip_signature_verification: true}", environ={"APITEST_INSECURE": "1"})
    assert s.oidc.skip_signature_verification


def test_unset_variable_is_reported() -> None:
    s = load_settings(text=MINIMAL + "api_keys: {file: [{name: k, key: '${NOPE}'}]}", environ={})
    assert s.meta.unset_vars == ["NOPE"]


def test_read_error_is_one_line(tmp_path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path / "missing.yaml", environ={})
    assert err.value.problems[0].startswith("read config ")


PROFILE_ENV = {"APITEST_COOKIE_SECRET": "0123456789abcdef0123456789", "APITEST_DEV_KEY": "k", "APITEST_DEV_BEARER": "b"}


@pytest.mark.parametrize("path", sorted(glob.glob("configs/apitest.*.yaml")))
def test_every_shipped_profile_loads(path: str) -> None:
    settings = load_settings(path, environ=PROFILE_ENV)
    assert settings.enabled_groups()


def test_shipped_profiles_exist() -> None:
    assert sorted(glob.glob("configs/apitest.*.yaml")) == [
        "configs/apitest.dev.yaml",
        "configs/apitest.example.yaml",
        "configs/apitest.live.yaml",
    ]


def test_dev_profile_is_anonymous_with_every_group() -> None:
    s = load_settings("configs/apitest.dev.yaml", environ={})
    assert s.auth.allow_anonymous
    assert s.enabled_groups() == list(GROUPS)


def test_masked_dict_hides_secrets() -> None:
    text = MINIMAL + (
        "portal: {cookie_secret: supersecretsupersecret}\n"
        "api_keys: {file: [{name: k, key: keyvalue}]}\n"
        "bearer: {tokens: [{name: t, token: tokenvalue}]}\n"
        "database: {url: 'postgresql+asyncpg://u:pw@h/db'}\n"
    )
    data = masked_dict(load_settings(text=text, environ={}))
    flat = repr(data)
    for secret in ("supersecretsupersecret", "keyvalue", "tokenvalue", ":pw@"):
        assert secret not in flat
    assert data["database"]["url"] == "postgresql+asyncpg://u:xxxxx@h/db"
    assert data["api_keys"]["file"][0]["key"] == "[redacted]"
