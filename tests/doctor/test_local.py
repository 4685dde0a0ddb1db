"""apitest doctor, configuration-only checks: each misconfiguration is set up and must be caught."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.doctor.support import GOOD_SECRET, diagnose_config, find, statuses, write_config


@pytest.mark.parametrize(
    ("overrides", "environ", "check", "status", "needle"),
    [
        # config invalid: an unknown key names the closest valid one
        ({"server": {"adress": ":8080"}}, {}, "config", "fail", "did you mean 'address'"),
        # ${VAR} referenced without a default and unset
        (
            {"server": {"name": "${APITEST_NAME}"}},
            {},
            "config.env",
            "warn",
            "${APITEST_NAME} is referenced by server.name",
        ),
        # a file key read from an unset variable is empty: every call is a 401
        (
            {"api_keys": {"file": [{"name": "devkey", "key": "${APITEST_DEV_KEY}"}]}},
            {},
            "auth.credentials",
            "fail",
            "api_keys.file[0] (devkey) is empty (from ${APITEST_DEV_KEY})",
        ),
        (
            {"bearer": {"tokens": [{"name": "b", "token": "bearer-please-change"}]}},
            {},
            "auth.credentials",
            "warn",
            "example placeholder",
        ),
        # audit on without a database: the server would refuse to start
        ({"audit": {"enabled": True}}, {}, "audit", "fail", "database.url is empty"),
        # the portal's audit pages stay empty without the audit log
        ({"portal": {"enabled": True, "cookie_secret": GOOD_SECRET}}, {}, "audit", "warn", "audit pages stay empty"),
        # several workers on one SQLite file
        (
            {"server": {"workers": 2}, "database": {"url": "sqlite+aiosqlite:///x.db"}, "audit": {"enabled": True}},
            {},
            "audit",
            "warn",
            "share one SQLite file",
        ),
        # portal cookie secret: empty, too short, the example placeholder, shortish, good
        ({"portal": {"enabled": True, "cookie_secret": ""}}, {}, "portal.cookie_secret", "fail", "is empty"),
        ({"portal": {"enabled": True, "cookie_secret": "short"}}, {}, "portal.cookie_secret", "fail", "5 bytes"),
        (
            {"portal": {"enabled": True, "cookie_secret": "change-me-to-a-long-random-secret"}},
            {},
            "portal.cookie_secret",
            "fail",
            "forge",
        ),
        ({"portal": {"enabled": True, "cookie_secret": "x" * 20}}, {}, "portal.cookie_secret", "warn", "only 20 bytes"),
        ({"portal": {"enabled": True, "cookie_secret": GOOD_SECRET}}, {}, "portal.cookie_secret", "pass", "48 bytes"),
        # cookie_secure against the base URL's scheme
        (
            {
                "server": {"base_url": "http://api-test.internal:8080"},
                "portal": {"enabled": True, "cookie_secret": GOOD_SECRET, "cookie_secure": True},
            },
            {},
            "portal.cookie_secure",
            "fail",
            "browsers will not send the session cookie back",
        ),
        (
            {"portal": {"enabled": True, "cookie_secret": GOOD_SECRET, "cookie_secure": True}},
            {},
            "portal.cookie_secure",
            "warn",
            "treat localhost as secure",
        ),
        (
            {
                "server": {"base_url": "https://api-test.example.com"},
                "portal": {"enabled": True, "cookie_secret": GOOD_SECRET},
            },
            {},
            "portal.cookie_secure",
            "warn",
            "plain http",
        ),
        # base_url on localhost while listening on every interface
        ({"server": {"address": ":8080"}}, {}, "server.base_url", "warn", "points at localhost"),
        ({"server": {"address": "0.0.0.0:9000"}}, {}, "server.base_url", "warn", "points at localhost"),
        (
            {"server": {"address": "127.0.0.1:9000", "base_url": "http://localhost:8080"}},
            {},
            "server.base_url",
            "warn",
            "uses port 8080 but the server listens on 9000",
        ),
        (
            {"server": {"address": ":8080", "base_url": "https://api-test.example.com"}},
            {},
            "server.base_url",
            "pass",
            "https://api-test.example.com",
        ),
        # anonymous mode on or off
        ({"auth": {"allow_anonymous": True}}, {}, "auth.anonymous", "warn", "anonymous mode is ON"),
        ({}, {}, "auth.anonymous", "pass", "anonymous mode is off"),
        (
            {"portal": {"enabled": True, "cookie_secret": GOOD_SECRET, "allow_anonymous": True}},
            {},
            "portal.anonymous",
            "warn",
            "anyone who can reach /portal/",
        ),
        # direct TLS with a missing certificate
        (
            {"server": {"tls": {"enabled": True, "cert_file": "/nonexistent.pem", "key_file": "/nonexistent.key"}}},
            {},
            "server.tls",
            "fail",
            "'/nonexistent.pem' is not a readable file",
        ),
    ],
)
async def test_misconfiguration_is_caught(
    tmp_path: Path, overrides: dict[str, Any], environ: dict[str, str], check: str, status: str, needle: str
) -> None:
    _, results, code = await diagnose_config(tmp_path, overrides, environ)
    found = find(results, check)
    assert any(r.status == status and needle in r.message for r in found), found
    if status == "fail":
        assert code == 1
        assert all(r.fix for r in found if r.status == "fail")


async def test_clean_config_exits_zero(tmp_path: Path) -> None:
    ctx, results, code = await diagnose_config(tmp_path, {})
    assert code == 0, [r for r in results if r.status == "fail"]
    assert statuses(results)["config"] == ["pass"]
    assert statuses(results)["server"] == ["skip"]


async def test_unreadable_config_fails_and_skips_the_rest(tmp_path: Path) -> None:
    from apitest.doctor import diagnose

    _, results = await diagnose(str(tmp_path / "missing.yaml"), environ={})
    assert results[0].check == "config" and results[0].status == "fail"
    assert "read config" in results[0].message
    assert {r.status for r in results[1:]} <= {"skip"}


async def test_invalid_config_still_runs_every_other_check(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"portal": {"enabled": True, "cookie_secret": ""}, "server": {"bogus": 1}})
    from apitest.doctor import diagnose

    _, results = await diagnose(str(path), environ={})
    configs = [r.message for r in find(results, "config")]
    assert any("unknown key 'server.bogus'" in m for m in configs)
    assert any("portal.cookie_secret is required" in m for m in configs)
    assert find(results, "portal.cookie_secret")[0].status == "fail"
    assert find(results, "server.base_url")  # still checked


async def test_portal_templates_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from apitest.portal import render

    portal = {"portal": {"enabled": True, "cookie_secret": GOOD_SECRET}}
    _, results, _ = await diagnose_config(tmp_path, portal)
    assert [r.status for r in find(results, "portal.templates")] == ["pass"]
    monkeypatch.setattr(render, "TEMPLATES_DIR", tmp_path / "site-packages" / "templates")
    _, results, code = await diagnose_config(tmp_path, portal)
    (check,) = find(results, "portal.templates")
    assert check.status == "fail" and "base.html" in check.message
    assert "APITEST_TEMPLATES_DIR" in check.fix
    assert code == 1


async def test_doctor_and_boot_report_the_same_portal_rules(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The portal's boot warnings and the doctor's portal checks read the same rules (apitest.config.rules)."""
    from apitest.app import create_app

    overrides = {
        "server": {"base_url": "http://api-test.internal:8080"},
        "portal": {"enabled": True, "cookie_secret": "x" * 20, "cookie_secure": True, "allow_anonymous": True},
    }
    ctx, results, code = await diagnose_config(tmp_path, overrides)
    doctor = [r.message for r in results if r.check.startswith("portal.") and r.status in ("warn", "fail")]
    assert ctx.settings is not None and not ctx.problems
    with caplog.at_level(logging.WARNING, logger="apitest.portal"):
        create_app(ctx.settings)
    boot = [r.getMessage() for r in caplog.records if r.name == "apitest.portal" and r.levelno == logging.WARNING]
    assert sorted(doctor) == sorted(boot)
    assert len(boot) == 3  # anonymous portal, a 20-byte secret, a Secure cookie over http
    assert code == 1  # the Secure cookie over http breaks sign-in: the doctor fails, the server only warns


async def test_a_warning_rule_without_a_check_of_its_own_is_still_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apitest.config import rules
    from apitest.config.rule import Rule

    def named(s: Any, env: Any) -> list[str]:
        return [f"server.name is {s.server.name!r}"] if s.server.name == "odd" else []

    extra = Rule("server.name.odd", "server.name", "warning", named, "pick another name")
    monkeypatch.setattr(rules, "RULES", (*rules.RULES, extra))
    _, results, code = await diagnose_config(tmp_path, {"server": {"name": "odd"}})
    assert [(r.status, r.message, r.fix) for r in find(results, "server.name")] == [
        ("warn", "server.name is 'odd'", "pick another name")
    ]
    assert code == 0
    _, results, _ = await diagnose_config(tmp_path, {})
    assert find(results, "server.name") == []
