"""`make dev` without containers: local Postgres plus an in-process OIDC provider, then a real sign-in."""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
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


@pytest.mark.integration
def test_make_dev_without_docker_gives_a_working_oidc_sign_in(tmp_path: Path, scratch_db_url: str) -> None:
    env_file = tmp_path / ".env.dev"
    key, bearer = f"apitest_{secrets.token_urlsafe(12)}", f"apitest_bearer_{secrets.token_urlsafe(12)}"
    env_file.write_text(
        f"export APITEST_COOKIE_SECRET={secrets.token_urlsafe(48)}\nexport APITEST_DEV_KEY={key}\n"
        f"export APITEST_DEV_BEARER={bearer}\n"
    )
    port, idp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("APITEST")}
    env.update({"APITEST_DB_URL": scratch_db_url, "LOG_LEVEL": "warn"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "apitest.devstack", "--address", f"127.0.0.1:{port}", "--idp-port", str(idp_port)]
        + ["--env-file", str(env_file)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://localhost:{port}"
    try:
        wait_for(f"{base}/healthz", proc)
        with httpx.Client(timeout=10) as client:
            # The stack serves the live profile: credentials required, the dev key works.
            assert client.get(f"{base}/v1/whoami").status_code == 401
            assert client.get(f"{base}/v1/whoami", headers={"X-API-Key": key}).json()["auth_type"] == "apikey"

            # Portal sign-in: apitest -> provider (pick the dev user) -> apitest callback -> session.
            start = client.get(f"{base}/portal/auth/login?return=/portal/about")
            assert start.status_code in (302, 303), start.text
            authorize = start.headers["location"]
            assert authorize.startswith(f"http://localhost:{idp_port}/oauth2/authorize?")
            assert "code_challenge_method=S256" in authorize
            assert f"redirect_uri=http%3A%2F%2Flocalhost%3A{port}%2Fportal%2Fauth%2Fcallback" in authorize
            form = client.get(authorize)
            assert form.status_code == 200 and 'value="dev"' in form.text
            chosen = client.post(authorize, data={"sub": "dev"})
            assert chosen.status_code == 302
            callback = chosen.headers["location"]
            assert callback.startswith(f"{base}/portal/auth/callback?code=")
            done = client.get(callback)
            assert done.status_code == 303, done.text
            assert done.headers["location"] == "/portal/about"
            me = client.get(f"{base}/api/v1/portal/me")
            assert me.status_code == 200, me.text
            identity = me.json()
            assert identity["auth_type"] == "oidc"
            assert identity["subject"] == "dev"
            assert identity["email"] == "dev@example.com"
            page = client.get(f"{base}/portal/")
            assert page.status_code == 200 and "Signed in as <strong>Dev User</strong> (oidc)" in page.text
            assert "api-test" in identity["claims"]["aud"]  # like the Keycloak realm's audience mapper

            # The provider enforces PKCE for the public client, and its ID token is a valid /v1 bearer.
            idp = f"http://localhost:{idp_port}"
            assert exchange(client, idp, base, verifier_ok=False).json()["error"] == "invalid_grant"
            tokens = exchange(client, idp, base, verifier_ok=True)
            assert tokens.status_code == 200, tokens.text
            whoami = client.get(f"{base}/v1/whoami", headers={"Authorization": f"Bearer {tokens.json()['id_token']}"})
            assert whoami.status_code == 200, whoami.text
            assert whoami.json()["auth_type"] == "oidc" and whoami.json()["subject"] == "dev"

        # The printed banner names the portal, the key and the bearer.
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert f"{base}/portal/" in out
        assert key in out and bearer in out
        assert re.search(rf"OIDC\s+http://localhost:{idp_port}", out)
        # Stopping the stack stopped the provider.
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", idp_port), timeout=1):
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_parser_defaults() -> None:
    args = devstack.build_parser().parse_args([])
    assert isinstance(args, argparse.Namespace)
    assert args.config == "configs/apitest.live.yaml"
    assert args.idp_port == 8081


def test_main_without_secrets_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert devstack.main(["--env-file", str(tmp_path / "missing")]) == 1
    assert "make dev-secrets" in capsys.readouterr().err


def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env.dev"
    path.write_text(
        "export APITEST_COOKIE_SECRET=c-0123456789abcdef0123\nexport APITEST_DEV_KEY=k1\nexport APITEST_DEV_BEARER=b1\n"
    )
    return path


@pytest.mark.integration
def test_dev_stack_creates_the_database_and_starts_the_provider(tmp_path: Path, scratch_db_url: str) -> None:
    idp_port = free_port()
    args = devstack.build_parser().parse_args(
        ["--env-file", str(secrets_file(tmp_path)), "--idp-port", str(idp_port), "--address", "127.0.0.1:18999"]
    )
    with devstack.dev_stack(args, {"APITEST_DB_URL": scratch_db_url}) as stack:
        env = stack.environ
        assert env["APITEST_DB_URL"] == scratch_db_url
        assert env["APITEST_OIDC_ISSUER"] == f"http://localhost:{idp_port}"
        assert env["APITEST_OIDC_AUDIENCE"] == "api-test"
        assert env["APITEST_OIDC_CLIENT_ID"] == "api-test-portal"
        assert env["APITEST_BASE_URL"] == "http://localhost:18999"
        assert env["APITEST_DEV_KEY"] == "k1"  # from the secrets file
        assert "oidc-provider-mock, in this process" in devstack.banner(stack, args.config)
        asyncio.run(devstack.ensure_database(scratch_db_url))  # exists now: a plain connect
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", idp_port), timeout=1):
        pass


@pytest.mark.integration
def test_dev_stack_uses_a_running_issuer(tmp_path: Path, scratch_db_url: str) -> None:
    external = devstack.start_mock_provider(free_port())  # stands in for Keycloak
    try:
        args = devstack.build_parser().parse_args(["--env-file", str(secrets_file(tmp_path)), "--wait", "5"])
        environ = {"APITEST_DB_URL": scratch_db_url, "APITEST_OIDC_ISSUER": external.issuer}
        with devstack.dev_stack(args, environ) as stack:
            assert stack.provider.server is None  # not ours: nothing started, nothing to stop
            assert "user dev / password dev" in devstack.banner(stack, args.config)
    finally:
        external.stop()


def test_unreachable_issuer_times_out() -> None:
    with pytest.raises(devstack.DevStackError, match="not ready"):
        devstack.wait_for_issuer(f"http://127.0.0.1:{free_port()}/realms/api-test", 0.5)


@pytest.mark.integration
def test_database_with_an_odd_name_is_not_created() -> None:
    from tests.dbsupport import server_url

    with server_url() as server:
        if server is None:
            pytest.skip("no PostgreSQL reachable")
        odd = urlsplit(server)._replace(path='/no"such-db').geturl()
        with pytest.raises(devstack.DevStackError, match="create it by hand"):
            asyncio.run(devstack.ensure_database(odd))
