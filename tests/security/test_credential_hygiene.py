"""No configured secret in anything the fixture stores or shows: a real server is sent every credential in
every place a client can put one, then every stored byte is searched for every secret.

Searched: the SQLite files (or every PostgreSQL table, as text, bytea included), the NDJSON and CSV exports,
the portal's JSON API and HTML pages for every event, and the server's log. Secrets: a file key, a static
bearer token, a database key (plaintext), the portal cookie secret and the key pepper. The key header and
query names are custom and contain none of ``audit.redact_keys``: they are redacted because they are the
configured credential names.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.procs import ServerProcess
from tests.security.conftest import APITEST, ROOT, ServerFactory, audit_rows

pytestmark = pytest.mark.security

FILE_KEY = "fk-Q7pLm2Xv9RtZ4wYc"
BEARER = "bt-K3nHs8Jd5FgA1qEe"
COOKIE_SECRET = "cs-W6uTy0Oi2PaS4dFgH8jK"
PEPPER = "pp-Z1xC3vB5nM7qW9eR"
HEADER = "X-Gw-Auth"
PARAM = "gwkey"


def profile(url: str) -> dict[str, object]:
    return {
        "database_url": url,
        "extra": {
            "api_keys": {
                "header_name": HEADER,
                "query_param_name": PARAM,
                "file": [{"name": "filekey", "key": FILE_KEY, "scopes": ["admin"]}],
                "db": {"enabled": True, "pepper": PEPPER},
            },
            "bearer": {"tokens": [{"name": "bearer", "token": BEARER}]},
            "audit": {"redact_keys": ["nothing-matches-this"], "flush_interval_ms": 50},
            "portal": {"enabled": True, "cookie_secret": COOKIE_SECRET, "allow_anonymous": True},
        },
    }


def create_db_key(server: ServerProcess) -> str:
    config = server.argv[server.argv.index("--config") + 1]
    done = subprocess.run(  # noqa: S603
        [*APITEST, "keys", "create", "--config", config, "--name", "dbkey"],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def send_every_credential(client: httpx.Client, db_key: str) -> None:
    for secret in (FILE_KEY, db_key):
        client.get(
            f"/v1/echo?{PARAM}={secret}&access_token={BEARER}&page=2",
            headers={
                "Referer": f"https://gw.test/app?{PARAM}={secret}&x=1#access_token={BEARER}",
                "Origin": f"https://user:{secret}@gw.test",
            },
        )
        client.get(f"/v1/method/echo?{PARAM}={secret}")
        client.get("/v1/headers", headers={HEADER: secret, "Cookie": f"session={secret}"})
        client.get("/v1/whoami", headers={HEADER: secret, "Proxy-Authorization": f"Basic {secret}"})
        client.post("/v1/echo", headers={"Authorization": f"Bearer {BEARER}", HEADER: secret}, content=b"hello")
        client.get("/v1/status/500", headers={HEADER: secret + "-wrong"})  # a rejected key is not stored either
        client.get("/v1/whoami", headers={"Authorization": f"Bearer {BEARER}-wrong"})


def portal_views(client: httpx.Client) -> list[bytes]:
    """Every export, and the JSON and HTML view of every event, as the portal serves them."""
    auth = {HEADER: FILE_KEY}
    out = [
        client.get("/api/v1/portal/audit/export.ndjson", headers=auth).content,
        client.get("/api/v1/portal/audit/export.csv", headers=auth).content,
    ]
    events = client.get("/api/v1/portal/audit/events?limit=500", headers=auth)
    assert events.status_code == 200, events.text
    out.append(events.content)
    for event in events.json()["events"]:
        out.append(client.get(f"/api/v1/portal/audit/events/{event['id']}", headers=auth).content)
        page = client.get(f"/portal/audit/{event['id']}")
        assert page.status_code == 200
        out.append(page.content)
    out.append(client.get("/portal/audit").content)
    out.append(client.get("/portal/config").content)
    return out


async def postgres_text(url: str) -> bytes:
    """Every row of every table of the database, as PostgreSQL renders a row as text (bytea as hex)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tables = (await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))).scalars()
            rows: list[str] = []
            for table in list(tables):
                rows += [
                    str(r) for r in (await conn.execute(text(f'SELECT CAST(t AS text) FROM "{table}" t'))).scalars()
                ]
        return "\n".join(rows).encode()
    finally:
        await engine.dispose()


def stored_bytes(url: str, tmp_path: Path) -> bytes:
    if url.startswith("sqlite"):
        return b"".join(p.read_bytes() for p in tmp_path.glob("audit.db*"))
    return asyncio.run(postgres_text(url))


def test_no_configured_secret_is_stored_exported_shown_or_logged(
    apitest_server: ServerFactory, backend_url: str, tmp_path: Path
) -> None:
    server = apitest_server("hygiene", **profile(backend_url))
    db_key = create_db_key(server)
    assert db_key.startswith("at_")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/v1/whoami", headers={HEADER: db_key}).json()["key_name"] == "dbkey"
        echoed = client.get(f"/v1/echo?{PARAM}={FILE_KEY}", headers={"Referer": f"https://g.test/?{PARAM}={FILE_KEY}"})
        assert echoed.json()["query"][PARAM] == ["[redacted]"]
        assert echoed.json()["headers"]["Referer"] == [f"https://g.test/?{PARAM}=[redacted]"]
        send_every_credential(client, db_key)
        time.sleep(0.5)  # the writer flushes every 50 ms
        views = portal_views(client)
    assert server.stop() == 0
    rows = audit_rows(backend_url, with_payloads=True)
    assert len(rows) >= 15
    searched = {
        "database": stored_bytes(backend_url, tmp_path),
        "portal and exports": b"\n".join(views),
        "server log": server.log_path.read_bytes(),
    }
    assert b"[redacted]" in searched["database"] or b"5b72656461637465645d" in searched["database"]
    for secret in (FILE_KEY, BEARER, db_key, COOKIE_SECRET, PEPPER):
        for where, data in searched.items():
            assert secret.encode() not in data, f"{secret[:6]}… found in the {where}"
            assert secret.encode().hex().encode() not in data, f"{secret[:6]}… (hex) found in the {where}"
