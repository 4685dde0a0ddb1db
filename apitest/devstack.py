"""``make dev``: the live-like stack on a laptop, with or without containers.

``python -m apitest.devstack`` (what ``make dev`` runs once the secrets exist):

1. reads ``.env.dev`` (``make dev-secrets``) for the cookie secret, dev key and dev bearer;
2. finds PostgreSQL: ``$APITEST_DB_URL``, else the compose user ``api`` on 127.0.0.1:5432, else the
   local superuser ``postgres``; creates the ``apitest`` database when it is missing;
3. finds an OIDC provider: ``$APITEST_OIDC_ISSUER`` (Keycloak from docker-compose.yml, waited for),
   else starts oidc-provider-mock in this process on 127.0.0.1 (a ``dev`` user, ID tokens carrying
   the ``api-test`` audience like the Keycloak realm's mapper);
4. prints the portal URL, the dev key and bearer, and runs ``apitest serve`` with the live profile.

Stopping the server (Ctrl-C, SIGTERM) stops the provider with it: it is a thread of this process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from apitest.config.effective import mask_database_url

DEFAULT_CONFIG = "configs/apitest.live.yaml"
DEFAULT_ADDRESS = "127.0.0.1:8080"
DEFAULT_IDP_PORT = 8081
DB_CANDIDATES = (
    "postgresql+asyncpg://api:api@127.0.0.1:5432/apitest",  # docker-compose.yml's postgres
    "postgresql+asyncpg://postgres@127.0.0.1:5432/apitest",  # a local server with trust auth
)
PORTAL_CLIENT = "api-test-portal"
AUDIENCE = "api-test"
DEV_USER_CLAIMS: dict[str, Any] = {
    "email": "dev@example.com",
    "email_verified": True,
    "name": "Dev User",
    "given_name": "Dev",
    "family_name": "User",
    "preferred_username": "dev",
    # What the Keycloak realm's audience mapper adds: the ID token is also valid as a /v1 bearer.
    "aud": [PORTAL_CLIENT, AUDIENCE],
    "azp": PORTAL_CLIENT,
}
_EXPORT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


class DevStackError(Exception):
    """The stack cannot start; the message says what to do."""


def read_env_file(path: Path) -> dict[str, str]:
    """``export NAME=value`` lines (the format ``make dev-secrets`` writes; quotes optional)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _EXPORT.match(line)
        if m and not line.lstrip().startswith("#"):
            raw = m.group(2).strip()
            if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
                raw = raw[1:-1]
            values[m.group(1)] = raw
    return values


# Database ---------------------------------------------------------------------------------------


def _plain(url: str, database: str | None = None) -> str:
    """An asyncpg DSN (no SQLAlchemy driver suffix), optionally for another database on the server."""
    parts = urlsplit(url.replace("+asyncpg", "", 1))
    scheme = "postgresql" if parts.scheme in ("postgres", "postgresql") else parts.scheme
    path = f"/{database}" if database is not None else parts.path
    return urlunsplit(parts._replace(scheme=scheme, path=path))


async def ensure_database(url: str, connect_timeout: float = 5.0) -> None:
    """Connect to ``url``; create its database first when the server says it does not exist."""
    import asyncpg  # type: ignore[import-untyped]

    try:
        conn = await asyncpg.connect(_plain(url), timeout=connect_timeout)
    except asyncpg.InvalidCatalogNameError:
        name = urlsplit(url).path.lstrip("/")
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise DevStackError(f"database {name!r} does not exist; create it by hand") from None
        admin = await asyncpg.connect(_plain(url, "postgres"), timeout=connect_timeout)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        print(f"devstack: created database {name!r}", flush=True)  # stdout, with the banner: stderr is JSON logs
        return
    await conn.close()


async def choose_database(environ: Mapping[str, str], wait: float = 0.0) -> str:
    """The first candidate URL whose server accepts us (``$APITEST_DB_URL`` alone when it is set)."""
    configured = environ.get("APITEST_DB_URL")
    candidates = [configured] if configured else list(DB_CANDIDATES)
    deadline = time.monotonic() + wait
    errors: list[str] = []
    while True:
        errors.clear()
        for url in candidates:
            try:
                await ensure_database(url)
                return url
            except DevStackError:
                raise
            except Exception as exc:
                errors.append(f"{mask_database_url(url)}: {type(exc).__name__}: {exc}")
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(1.0)
    raise DevStackError(
        "no PostgreSQL to use:\n  "
        + "\n  ".join(errors)
        + "\nstart one (docker compose up -d postgres, or a local server on 127.0.0.1:5432), "
        "or set APITEST_DB_URL=postgresql+asyncpg://user:pass@host:5432/apitest"
    )


# OIDC provider ----------------------------------------------------------------------------------


@dataclass
class Provider:
    """An OIDC provider this process started (``stop`` it) or found running (``stop`` is a no-op)."""

    issuer: str
    server: Any = None
    thread: threading.Thread | None = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if self.thread is not None:
            self.thread.join(timeout=5)
            self.thread = None


def start_mock_provider(port: int, host: str = "127.0.0.1") -> Provider:
    """oidc-provider-mock in a background thread, with the ``dev`` user; issuer ``http://localhost:<port>``.

    The mock derives its issuer from the Host header, so everyone (browser, apitest, a gateway) must
    call it as ``localhost:<port>``. It accepts any client id and redirect URI (Keycloak enforces
    them) and, through :mod:`apitest.devidp`, verifies PKCE like Keycloak.
    """
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback
    import werkzeug.serving

    from apitest.devidp import pkce_provider_app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # its access log prints codes and states
    flask_app = pkce_provider_app([("dev", dict(DEV_USER_CLAIMS))])
    try:
        server = werkzeug.serving.make_server(host, port, flask_app, threaded=True)
    except (OSError, SystemExit) as exc:  # werkzeug prints the reason and exits on a busy port
        raise DevStackError(
            f"cannot listen on {host}:{port} for the OIDC provider (port in use?); is Keycloak already running "
            "there? Then set APITEST_OIDC_ISSUER=http://localhost:8081/realms/api-test"
        ) from exc
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True, name="idp")
    thread.start()
    return Provider(issuer=f"http://localhost:{server.server_port}", server=server, thread=thread)


def wait_for_issuer(issuer: str, wait: float) -> dict[str, Any]:
    """Poll the discovery document until it answers (Keycloak needs a while to import the realm)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    deadline = time.monotonic() + wait
    last = ""
    while True:
        try:
            response = httpx.get(url, timeout=3.0)
            if response.status_code == 200:
                doc: dict[str, Any] = response.json()
                return doc
            last = f"status {response.status_code}"
        except (httpx.HTTPError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise DevStackError(f"OIDC provider {url} not ready after {wait:g}s ({last})")
        time.sleep(0.5)


# Orchestration ----------------------------------------------------------------------------------


@dataclass
class Stack:
    environ: dict[str, str]  # what `apitest serve` runs with
    provider: Provider
    database_url: str


@contextlib.contextmanager
def dev_stack(args: argparse.Namespace, environ: Mapping[str, str]) -> Iterator[Stack]:
    env = dict(environ)
    for name, value in read_env_file(Path(args.env_file)).items():
        env.setdefault(name, value)
    missing = [n for n in ("APITEST_COOKIE_SECRET", "APITEST_DEV_KEY", "APITEST_DEV_BEARER") if not env.get(n)]
    if missing:
        raise DevStackError(f"{', '.join(missing)} not set: run `make dev-secrets` (writes {args.env_file})")
    db_url = asyncio.run(choose_database(env, wait=args.wait))
    env["APITEST_DB_URL"] = db_url
    port = args.address.rpartition(":")[2]
    env["APITEST_ADDRESS"] = args.address
    env.setdefault("APITEST_BASE_URL", f"http://localhost:{port}")
    if env.get("APITEST_OIDC_ISSUER"):
        provider = Provider(issuer=env["APITEST_OIDC_ISSUER"])
    else:
        provider = start_mock_provider(args.idp_port)
        env["APITEST_OIDC_ISSUER"] = provider.issuer
        env.setdefault("APITEST_OIDC_AUDIENCE", AUDIENCE)
        env.setdefault("APITEST_OIDC_CLIENT_ID", PORTAL_CLIENT)
    try:
        wait_for_issuer(provider.issuer, args.wait)
        yield Stack(environ=env, provider=provider, database_url=db_url)
    finally:
        provider.stop()


def banner(stack: Stack, config: str) -> str:
    env = stack.environ
    base = env["APITEST_BASE_URL"].rstrip("/")
    mock = stack.provider.server is not None
    sign_in = "choose user 'dev' on the provider's page" if mock else "user dev / password dev"
    lines = [
        "",
        "apitest dev stack",
        f"  portal     {base}/portal/   (Sign in with OIDC: {sign_in})",
        f"  API        {base}/v1/whoami   docs {base}/docs   metrics {base}/metrics",
        f"  OIDC       {stack.provider.issuer}" + ("   (oidc-provider-mock, in this process)" if mock else ""),
        f"  database   {mask_database_url(stack.database_url)}",
        f"  config     {config}",
        f"  dev key    {env['APITEST_DEV_KEY']}",
        f"  bearer     {env['APITEST_DEV_BEARER']}",
        f"  try        curl -H 'X-API-Key: {env['APITEST_DEV_KEY']}' {base}/v1/whoami",
        "",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m apitest.devstack", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=DEFAULT_CONFIG, help=f"profile to serve (default {DEFAULT_CONFIG})")
    p.add_argument("--address", default=os.environ.get("APITEST_ADDRESS", DEFAULT_ADDRESS), help="listen address")
    p.add_argument("--idp-port", type=int, default=DEFAULT_IDP_PORT, help="port of the in-process OIDC provider")
    p.add_argument("--env-file", default=".env.dev", help="secrets file written by make dev-secrets")
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for Postgres and the IdP to come up")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from apitest.cli import main as apitest_main

    try:
        with dev_stack(args, os.environ) as stack:
            print(banner(stack, args.config), flush=True)
            os.environ.update(stack.environ)
            return apitest_main(["serve", "--config", args.config])
    except DevStackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
