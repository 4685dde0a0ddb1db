"""Logs are JSON lines with request ids, the level follows LOG_LEVEL, and no configured secret ever
appears in them: a real server runs a realistic flow at debug level and its whole stderr is searched."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from apitest import devstack
from tests.ops.test_devstack import exchange
from tests.support import ALL_GROUPS, free_port

ROOT = Path(__file__).resolve().parents[2]


class Server:
    def __init__(self, proc: subprocess.Popen[str], url: str, log_path: Path) -> None:
        self.proc, self.url, self.log_path = proc, url, log_path

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.log_path.read_text()


def start_server(tmp_path: Path, config: dict[str, Any], env: dict[str, str], level: str) -> Server:
    port = free_port()
    config = {**config, "server": {**config.get("server", {}), "address": f"127.0.0.1:{port}"}}
    path = tmp_path / "apitest.yaml"
    path.write_text(yaml.safe_dump(config))
    log_path = tmp_path / "server.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("APITEST")}
    full_env.update(env, LOG_LEVEL=level)
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "apitest.cli", "serve", "--config", str(path)],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = Server(proc, f"http://localhost:{port}", log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("server did not start")


@pytest.fixture
def provider() -> Iterator[devstack.Provider]:
    p = devstack.start_mock_provider(free_port())
    devstack.wait_for_issuer(p.issuer, 10)
    yield p
    p.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL; on Postgres it carries a password (trust auth ignores it) that must never be logged."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/audit.db"
    pg = str(request.getfixturevalue("pg_url"))
    parts = urlsplit(pg)
    netloc = f"{parts.username}:db-password-{secrets.token_hex(6)}@{parts.hostname}:{parts.port or 5432}"
    return parts._replace(netloc=netloc).geturl()


def test_no_secret_reaches_the_logs(tmp_path: Path, provider: devstack.Provider, database_url: str) -> None:
    s = {
        "APITEST_COOKIE_SECRET": f"cookie-{secrets.token_urlsafe(24)}",
        "APITEST_DEV_KEY": f"filekey-{secrets.token_urlsafe(18)}",
        "APITEST_DEV_BEARER": f"bearer-{secrets.token_urlsafe(18)}",
        "APITEST_OIDC_SECRET": f"oidcsecret-{secrets.token_urlsafe(18)}",
        "APITEST_PEPPER": f"pepper-{secrets.token_urlsafe(18)}",
        "APITEST_DB_URL": database_url,
    }
    config = {
        "auth": {"allow_anonymous": False},
        "endpoints": {g: {"enabled": True} for g in ALL_GROUPS},
        "server": {"shutdown": {"pre_shutdown_delay": "0s", "grace_period": "3s"}},
        "database": {"url": "${APITEST_DB_URL}"},
        "audit": {"enabled": True},
        "api_keys": {
            "file": [{"name": "devkey", "key": "${APITEST_DEV_KEY}", "scopes": ["admin"]}],
            "db": {"enabled": True, "pepper": "${APITEST_PEPPER}"},
        },
        "bearer": {"tokens": [{"name": "devbearer", "token": "${APITEST_DEV_BEARER}"}]},
        "oidc": {
            "enabled": True,
            "issuer": provider.issuer,
            "audience": "api-test",
            "client_id": "api-test-portal",
            "client_secret": "${APITEST_OIDC_SECRET}",
        },
        "portal": {"enabled": True, "cookie_secret": "${APITEST_COOKIE_SECRET}"},
    }
    server = start_server(tmp_path, config, s, "debug")
    presented: list[str] = []  # credentials sent on the wire, good and bad: none may be logged either
    try:
        base = server.url
        with httpx.Client(base_url=base, timeout=10) as c:
            key, bearer = s["APITEST_DEV_KEY"], s["APITEST_DEV_BEARER"]
            assert c.get("/v1/whoami", headers={"X-API-Key": key}).status_code == 200
            assert c.get("/v1/whoami", params={"api_key": key}).status_code == 200
            assert c.get("/v1/whoami", headers={"Authorization": f"Bearer {bearer}"}).status_code == 200
            assert c.post("/v1/echo", headers={"X-API-Key": key}, json={"password": "in-a-body"}).status_code == 200

            jwt = exchange(c, provider.issuer, base, verifier_ok=True).json()["id_token"]
            assert c.get("/v1/whoami", headers={"Authorization": f"Bearer {jwt}"}).json()["auth_type"] == "oidc"
            tampered = jwt[:-6] + ("AAAAAA" if not jwt.endswith("AAAAAA") else "BBBBBB")
            wrong_key, wrong_bearer = f"wrongkey-{secrets.token_hex(8)}", f"wrongbearer-{secrets.token_hex(8)}"
            presented += [jwt, tampered, wrong_key, wrong_bearer]
            for headers in (
                {"X-API-Key": wrong_key},
                {"Authorization": f"Bearer {wrong_bearer}"},
                {"Authorization": f"Bearer {tampered}"},
                {},
            ):
                assert c.get("/v1/whoami", headers=headers).status_code == 401
            assert c.get("/v1/whoami", params={"api_key": wrong_key}).status_code == 401

            # A database key: created (plaintext shown once), used, revoked, refused.
            created = c.post("/api/v1/admin/keys", headers={"X-API-Key": key}, json={"name": "ci", "scopes": []})
            assert created.status_code == 201, created.text
            db_key = created.json()["plaintext"]
            presented.append(db_key)
            assert c.get("/v1/whoami", headers={"X-API-Key": db_key}).status_code == 200
            assert c.delete("/api/v1/admin/keys/ci", headers={"X-API-Key": key}).status_code == 204
            assert c.get("/v1/whoami", headers={"X-API-Key": db_key}).status_code == 401

            # Portal: API-key sign-in through the form, then OIDC sign-in through the provider.
            login = c.get("/portal/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
            assert token, login.text
            signed = c.post("/portal/login", data={"api_key": key, "csrf_token": token.group(1)})
            assert signed.status_code == 303, signed.text
            assert c.get("/portal/config").status_code == 200
            # A database key through the portal's Keys page (logged at INFO: this once was a 500).
            page = c.get("/portal/keys")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert csrf, page.text
            made = c.post("/portal/keys", data={"csrf_token": csrf.group(1), "name": "portal-made"})
            assert made.status_code == 201, made.text
            portal_key = re.search(r"at_[A-Za-z0-9_-]{43}", made.text)
            assert portal_key
            presented.append(portal_key.group(0))
            assert c.get("/v1/whoami", headers={"X-API-Key": portal_key.group(0)}).status_code == 200
            gone = c.post("/portal/keys/portal-made/revoke", data={"csrf_token": csrf.group(1)})
            assert gone.status_code == 303, gone.text
            c.cookies.clear()
            start = c.get("/portal/auth/login")
            chosen = c.post(start.headers["location"], data={"sub": "dev"})
            callback = chosen.headers["location"]
            presented.append(re.search(r"code=([^&]+)", callback).group(1))  # type: ignore[union-attr]
            assert c.get(callback).status_code == 303
            session_cookie = c.cookies.get("api_test_session")
            assert session_cookie
            presented.append(session_cookie)
            assert c.get("/api/v1/portal/me").json()["auth_type"] == "oidc"
            assert c.get("/metrics").status_code == 200
            assert c.get("/nope").status_code == 404
    finally:
        text = server.stop()

    password = urlsplit(database_url).password
    configured = [v for k, v in s.items() if k != "APITEST_DB_URL"] + ([password] if password else [])
    for secret in configured + presented:
        assert secret not in text, f"a secret reached the log: {secret[:12]}..."

    records = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is one JSON object
    requests = [r for r in records if r.get("msg") == "request"]
    assert len(requests) >= 15
    assert all(re.fullmatch(r"[0-9a-f-]{36}", r["request_id"]) for r in requests)
    assert {r["status"] for r in requests} >= {200, 401, 404}
    oidc_lines = [r for r in requests if r.get("auth_type") == "oidc"]
    assert oidc_lines and all(r["subject"] == "dev" for r in oidc_lines)


@pytest.mark.parametrize(("level", "info_lines"), [("warn", False), ("info", True), ("DEBUG", True)])
def test_log_level_follows_the_environment(tmp_path: Path, level: str, info_lines: bool) -> None:
    config = {
        "auth": {"allow_anonymous": True},
        "endpoints": {"identity": {"enabled": True}},
        "server": {"shutdown": {"pre_shutdown_delay": "0s", "grace_period": "2s"}},
    }
    server = start_server(tmp_path, config, {}, level)
    try:
        httpx.get(f"{server.url}/v1/whoami", headers={"X-Request-Id": "trace-me-123"})
    finally:
        text = server.stop()
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    requests = [r for r in records if r.get("msg") == "request"]
    assert bool(requests) is info_lines
    if info_lines:
        assert any(r["request_id"] == "trace-me-123" and r["path"] == "/v1/whoami" for r in requests)
    assert all(r["level"] in ("debug", "info", "warn", "error") for r in records)
