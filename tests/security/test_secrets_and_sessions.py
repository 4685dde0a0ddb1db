"""Known secrets and stale sessions: a profile with a secret shipped in configs/ does not start outside the dev
profile, a cookie forged with a shipped secret is refused, and sessions end with sign-out and their key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from apitest.config import default_settings
from apitest.config.shipped import SHIPPED_SECRETS
from apitest.portal.session import PortalIdentity, Session, SessionCodec
from tests.portal.conftest import KEY, csrf_token
from tests.security.conftest import cookie_header, sign_in
from tests.support import LiveServer, free_port

pytestmark = pytest.mark.security

ROOT = Path(__file__).resolve().parents[2]
ADMIN = {"X-API-Key": KEY}


def serve(config: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("APITEST")}
    return subprocess.run(
        [sys.executable, "-m", "apitest.cli", "serve", "--config", config],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_example_profile_refuses_to_start_with_its_shipped_secrets() -> None:
    done = serve("configs/apitest.example.yaml", {"APITEST_ADDRESS": f"127.0.0.1:{free_port()}"})
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if "default shipped in configs/" in line]
    assert [line.split(" is ")[0].strip(" -") for line in lines] == [
        "api_keys.file[0].key",
        "bearer.tokens[0].token",
        "portal.cookie_secret",
    ]
    for var in ("APITEST_DEV_KEY", "APITEST_DEV_BEARER", "APITEST_COOKIE_SECRET"):
        assert f"set {var} to a random value" in done.stderr
    assert not any(secret in done.stderr for secret in SHIPPED_SECRETS)


def test_the_dev_profile_on_a_public_address_refuses_too() -> None:
    done = serve("configs/apitest.dev.yaml", {"APITEST_ADDRESS": f"0.0.0.0:{free_port()}"})
    assert done.returncode == 1 and "portal.cookie_secret is a default shipped in configs/" in done.stderr


@pytest.mark.parametrize("secret", sorted(s for s in SHIPPED_SECRETS if "cookie" in s or "secret" in s))
def test_a_cookie_forged_with_a_shipped_secret_signs_nobody_in(server: LiveServer, secret: str) -> None:
    settings = default_settings()
    settings.portal.cookie_secret = secret  # what an attacker who read configs/ would sign with
    forger = SessionCodec(settings)
    admin = PortalIdentity(subject="tester", auth_type="apikey", api_key_id="tester", scopes=("admin",))
    cookie = {"Cookie": f"api_test_session={forger.encode(Session(admin, 'forged-csrf'))}"}
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/api/v1/portal/me", headers=cookie).status_code == 401
        minted = client.post(
            "/api/v1/admin/keys",
            json={"name": "forged", "scopes": ["admin"]},
            headers={**cookie, "X-CSRF-Token": "forged-csrf"},
        )
        assert minted.status_code == 401
        assert "forged" not in str(client.get("/api/v1/admin/keys", headers=ADMIN).json())


def test_sign_out_ends_the_session_for_a_stolen_copy_too(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert sign_in(client).status_code == 303
        stolen = cookie_header(client)
        token = csrf_token(client.get("/portal/").text)
        assert client.post("/portal/logout", data={"csrf_token": token}).status_code == 303
    with httpx.Client(base_url=server.url, timeout=10) as thief:
        assert thief.get("/api/v1/portal/me", headers=stolen).status_code == 401
        page = thief.get("/portal/audit", headers=stolen)
        assert page.status_code == 303 and "reason=ended" in page.headers["location"]
        r = thief.post("/api/v1/admin/keys", json={"name": "after-logout"}, headers={**stolen, "X-CSRF-Token": token})
        assert r.status_code == 401


def test_revoking_a_key_ends_the_sessions_signed_in_with_it(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as admin:
        created = admin.post("/api/v1/admin/keys", json={"name": "laptop", "scopes": ["admin"]}, headers=ADMIN).json()
    with httpx.Client(base_url=server.url, timeout=10) as user:
        assert sign_in(user, created["plaintext"]).status_code == 303
        assert user.get("/api/v1/portal/me").json()["subject"] == "laptop"
        token = csrf_token(user.get("/portal/keys").text)
        with httpx.Client(base_url=server.url, timeout=10) as admin:
            assert admin.delete("/api/v1/admin/keys/laptop", headers=ADMIN).status_code == 204
        assert user.get("/api/v1/portal/me").status_code == 401
        r = user.post("/portal/keys", data={"csrf_token": token, "name": "after-revoke"})
        assert r.status_code == 303 and "/portal/login" in r.headers["location"]
