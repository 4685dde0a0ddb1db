"""`make dev` without containers: local Postgres plus an in-process OIDC provider, then a real sign-in."""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from apitest import devstack
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_read_env_file(tmp_path: Path) -> None:
    path = tmp_path / ".env.dev"
    path.write_text(
        "export APITEST_COOKIE_SECRET=abc=def\n# export IGNORED=1\nAPITEST_DEV_KEY='quoted value'\n\nnot a line\n"
    )
    assert devstack.read_env_file(path) == {"APITEST_COOKIE_SECRET": "abc=def", "APITEST_DEV_KEY": "quoted value"}
    assert devstack.read_env_file(tmp_path / "missing") == {}


def test_make_dev_secrets_format_is_understood(tmp_path: Path) -> None:
    """The Makefile's dev-secrets recipe and read_env_file agree on the file format."""
    subprocess.run(["make", "-s", "-C", str(ROOT), f"ENV_FILE={tmp_path}/.env.dev", "dev-secrets"], check=True)
    values = devstack.read_env_file(tmp_path / ".env.dev")
    assert set(values) == {"APITEST_COOKIE_SECRET", "APITEST_DEV_KEY", "APITEST_DEV_BEARER"}
    assert len(values["APITEST_COOKIE_SECRET"]) >= 32
    assert oct((tmp_path / ".env.dev").stat().st_mode & 0o777) == "0o600"


async def test_no_database_is_a_clear_error() -> None:
    url = f"postgresql+asyncpg://api:pw-not-shown@127.0.0.1:{free_port()}/apitest"
    with pytest.raises(devstack.DevStackError) as info:
        await devstack.choose_database({"APITEST_DB_URL": url})
    assert "APITEST_DB_URL" in str(info.value)
    assert "pw-not-shown" not in str(info.value)


def test_missing_secrets_are_a_clear_error(tmp_path: Path) -> None:
    args = devstack.build_parser().parse_args(["--env-file", str(tmp_path / "none")])
    with pytest.raises(devstack.DevStackError, match="make dev-secrets"), devstack.dev_stack(args, {}):
        pass


def test_mock_provider_serves_discovery_and_stops() -> None:
    port = free_port()
    provider = devstack.start_mock_provider(port)
    try:
        doc = devstack.wait_for_issuer(provider.issuer, 5)
        assert doc["issuer"] == f"http://localhost:{port}"  # derived from the Host header: always localhost
        assert httpx.get(doc["jwks_uri"]).json()["keys"]
    finally:
        provider.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_busy_provider_port_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(devstack.DevStackError, match="Keycloak"):
            devstack.start_mock_provider(busy.getsockname()[1])


def test_banner_names_the_portal_key_and_bearer() -> None:
    stack = devstack.Stack(
        environ={
            "APITEST_BASE_URL": "http://localhost:8080",
            "APITEST_DEV_KEY": "apitest_key",
            "APITEST_DEV_BEARER": "apitest_bearer_x",
        },
        provider=devstack.Provider(issuer="http://localhost:8081/realms/api-test"),
        database_url="postgresql+asyncpg://api:api@127.0.0.1:5432/apitest",
    )
    text = devstack.banner(stack, "configs/apitest.live.yaml")
    assert "http://localhost:8080/portal/" in text
    assert "apitest_key" in text and "apitest_bearer_x" in text
    assert "api:xxxxx@" in text  # the database password is masked
    assert "dev / password dev" in text  # Keycloak's user


# --- end to end ------------------------------------------------------------------------------------


@pytest.fixture
def scratch_db_url() -> Iterator[str]:
    """A database name that does not exist yet on the local server: the stack must create it."""
    from tests.dbsupport import server_url

    with server_url() as server:
        if server is None:
            pytest.skip("no PostgreSQL reachable")
        name = f"apitest_devstack_{secrets.token_hex(4)}"
        url = urlsplit(server)._replace(path=f"/{name}").geturl().replace("postgresql://", "postgresql+asyncpg://", 1)
        yield url
        import asyncpg

        async def drop() -> None:
            conn = await asyncpg.connect(server)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

        asyncio.run(drop())


def wait_for(url: str, proc: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"devstack exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def exchange(client: httpx.Client, idp: str, base: str, *, verifier_ok: bool) -> httpx.Response:
    """Authorization code + PKCE as the public portal client, by hand; a wrong verifier when asked."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect = f"{base}/portal/auth/callback"
    query = {
        "response_type": "code",
        "client_id": "api-test-portal",
        "redirect_uri": redirect,
        "scope": "openid email profile",
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    chosen = client.post(f"{idp}/oauth2/authorize?{urlencode(query)}", data={"sub": "dev"})
    assert chosen.status_code == 302, chosen.text
    code = parse_qs(urlsplit(chosen.headers["location"]).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect,
        "client_id": "api-test-portal",
        "code_verifier": verifier if verifier_ok else secrets.token_urlsafe(48),
    }
    return client.post(f"{idp}/oauth2/token", data=form)


def test_parser_defaults() -> None:
    args = devstack.build_parser().parse_args([])
    assert isinstance(args, argparse.Namespace)
    assert args.config == "configs/apitest.live.yaml"
    assert args.idp_port == 8081
